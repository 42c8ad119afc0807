"""The claims read model: one row per claim (queues, a policy's claims, clocks and KPIs), the invoices and
document digests seen in claims (duplicates), the payment outbox the payments system reads, and the one open claim
of each loss (a second report of it is refused as it is recorded). Facts only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal

from ledger.claims import events as ev
from ledger.claims import state as st
from ledger.errors import Refused
from ledger.log.statements import Statement
from ledger.projections.base import Column, Fact, Key, Rows, TableSpec

CLAIMS = "claims"
INVOICES = "claim_invoices"  # (invoice number, claim): a number seen in two claims is a duplicate
DOCUMENTS = "claim_documents"  # (digest, claim)
PAYMENTS = "claim_payments"  # the payment outbox: instructed, then paid or failed
OPEN = "claims_open"  # the open claims of each loss, (application, claim type, loss date): one, bar old races
COVER = "claims_cover"  # per policy: records that changed what its claims used of the cover (COVER-STALE)

COVER_STALE = "COVER-STALE"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TYPES = frozenset(t.name for t in ev.TYPES) - {ev.HOSPITAL_INVOICE, ev.HOSPITAL_NOTICE, ev.PAYMENT_SETTLEMENT}


def _t(name: str, kind: Literal["text", "int"] = "text", nullable: bool = True) -> Column:
    return Column(name, kind, nullable)


class ClaimsProjector:
    needs_facts: ClassVar[bool] = True
    name: ClassVar[str] = "claims"
    tables: ClassVar[tuple[TableSpec, ...]] = (
        TableSpec(CLAIMS, (
            _t("claim_id", nullable=False), _t("application_id", nullable=False), _t("policy_no", nullable=False),
            _t("insured", nullable=False), _t("reporter", nullable=False), _t("claim_type", nullable=False),
            _t("cause", nullable=False), _t("loss_date", nullable=False), _t("status", nullable=False),
            _t("track"), _t("handler"), _t("outcome"), _t("automatic", "int", False), _t("sampled", "int", False),
            _t("flags", "int", False), _t("flags_confirmed", "int", False), _t("reopened", "int", False),
            _t("appealed", "int", False), _t("assessed_amount"), _t("approved_amount"), _t("paid_amount"),
            _t("currency"), _t("account_digest"), _t("reported_at", nullable=False),
            _t("reported_idx", "int", False), _t("complete_at"), _t("complete_idx", "int"), _t("decided_at"),
            _t("decided_idx", "int"), _t("paid_at"), _t("paid_idx", "int"), _t("paused_at"),
            _t("paused_seconds", "int", False), _t("updated_at", nullable=False), _t("updated_idx", "int", False),
            # reported_at, complete_at, decided_at, paid_at as UTC epoch microseconds, for the KPIs' arithmetic
            _t("reported_us", "int", False), _t("complete_us", "int"), _t("decided_us", "int"), _t("paid_us", "int"),
        ), key=("claim_id",), indexes=(("status",), ("application_id",), ("insured",), ("handler",),
                                       ("account_digest",), ("complete_at",)),
            revision=1),  # 1: paid_amount is every payment paid (advances and top-ups), not the first benefit
        TableSpec(INVOICES, (_t("invoice_no", nullable=False), _t("claim_id", nullable=False),
                             _t("idx", "int", False)), key=("invoice_no", "claim_id")),
        TableSpec(DOCUMENTS, (_t("digest", nullable=False), _t("claim_id", nullable=False),
                              _t("idx", "int", False)), key=("digest", "claim_id")),
        TableSpec(PAYMENTS, (
            _t("payment_id", nullable=False), _t("claim_id", nullable=False), _t("kind", nullable=False),
            _t("amount", nullable=False), _t("currency", nullable=False), _t("payee", nullable=False),
            _t("account_digest", nullable=False), _t("status", nullable=False), _t("due_by", nullable=False),
            _t("instructed_at", nullable=False), _t("instructed_idx", "int", False), _t("settled_idx", "int"),
        ), key=("payment_id",), indexes=(("status",), ("claim_id",))),
        TableSpec(OPEN, (_t("application_id", nullable=False), _t("claim_type", nullable=False),
                         _t("loss_date", nullable=False), _t("claims", nullable=False)),
                  key=("application_id", "claim_type", "loss_date")),
        TableSpec(COVER, (_t("application_id", nullable=False), _t("uses", "int", False)),
                  key=("application_id",)),
    )

    def handles(self, type: str) -> bool:
        return type in _TYPES

    def prefetch(self, statement: Statement, facts: Mapping[str, Any] | None) -> Iterable[tuple[str, Key]]:
        if facts is None or not facts.get("claim_id"):
            return []
        keys: list[tuple[str, Key]] = [(CLAIMS, (facts["claim_id"],))]
        if statement.type == ev.REPORTED:
            keys.append((OPEN, (facts["application_id"], facts["claim_type"], facts["loss_date"])))
        for name in ("payment_id", "replaces"):
            if facts.get(name):
                keys.append((PAYMENTS, (facts[name],)))
        return keys

    def apply(self, rows: Rows, fact: Fact) -> None:
        f = fact.workflow_facts(ev.STREAM_PREFIX)
        if f is None:
            return
        at, index = fact.record.recorded_at, fact.index
        if fact.type == ev.REPORTED:
            others = _open_of_loss(rows, f) - {f["claim_id"]}
            if others and f.get("loss_held"):
                # two reports of one loss raced past the service's check: the second is not recorded (a report
                # recorded before the rule was held here, without ``loss_held``, is folded as it was)
                held = min(others)
                raise Refused(f"CLAIM-OPEN: claim {held} for the same loss is still open; add documents to it",
                              rule="CLAIM-OPEN", zh=f"同一事故的理赔（{held}）仍在处理中，请在该理赔中补充材料")
            _hold_loss(rows, f, open_now=True)
            rows.put(CLAIMS, {
                "claim_id": f["claim_id"], "application_id": f["application_id"], "policy_no": f["policy_no"],
                "insured": f["insured"], "reporter": f["reporter"]["party"], "claim_type": f["claim_type"],
                "cause": f["cause"], "loss_date": f["loss_date"], "status": st.AWAITING_DOCUMENTS, "track": None,
                "handler": None, "outcome": None, "automatic": 0, "sampled": 0, "flags": 0, "flags_confirmed": 0,
                "reopened": 0, "appealed": 0, "assessed_amount": None, "approved_amount": None,
                "paid_amount": None, "currency": None, "account_digest": f.get("account_digest") or None,
                "reported_at": at, "reported_idx": index, "complete_at": None, "complete_idx": None,
                "decided_at": None, "decided_idx": None, "paid_at": None, "paid_idx": None, "paused_at": None,
                "paused_seconds": 0, "updated_at": at, "updated_idx": index, "reported_us": _micros(at),
                "complete_us": None, "decided_us": None, "paid_us": None})
            return
        current = rows.get(CLAIMS, (f["claim_id"],))
        if current is None:
            return
        row = dict(current, updated_at=at, updated_idx=index)
        _fold(rows, row, fact.type, f, at=at, index=index)
        rows.put(CLAIMS, row)
        if row["status"] != current["status"]:
            _hold_loss(rows, row, open_now=row["status"] in st.OPEN)


def _open_of_loss(rows: Rows, claim: Mapping[str, Any]) -> set[str]:
    """The open claims of ``claim``'s loss (its application, claim type and loss date)."""
    held = rows.get(OPEN, (claim["application_id"], claim["claim_type"], claim["loss_date"]))
    return set(held["claims"].split()) if held is not None else set()


def _hold_loss(rows: Rows, claim: Mapping[str, Any], *, open_now: bool) -> None:
    """Count ``claim`` among its loss's open claims, or no longer (decided, paid or closed)."""
    claims = _open_of_loss(rows, claim)
    claims = claims | {claim["claim_id"]} if open_now else claims - {claim["claim_id"]}
    loss = (claim["application_id"], claim["claim_type"], claim["loss_date"])
    if claims:
        rows.put(OPEN, {"application_id": loss[0], "claim_type": loss[1], "loss_date": loss[2],
                        "claims": " ".join(sorted(claims))})
    else:
        rows.delete(OPEN, loss)


def _count_use(rows: Rows, application_id: str, seen: int | None) -> None:
    """Count a record that changes what the policy's claims used of its cover: an approval, a payment instruction,
    a reopening (what ``ledger.claims.context.prior_of`` counts moves with each). One that uses cover (an approval,
    an advance) carries ``cover_seen``, the count its evaluation saw; if there are more now, another claim's use
    raced past the service's read of the policy's claims, and this one might pay cover that one used: it is not
    recorded, and the service evaluates it again. A record without ``cover_seen`` (recorded before the rule, or
    one that uses nothing new) is counted as it is. Which records count is part of what ``cover_seen`` means: a
    replay must count the same ones, so a change to them takes a new fact name."""
    held = rows.get(COVER, (application_id,))
    uses = uses_of(held)
    if seen is not None and seen != uses:
        raise Refused("COVER-STALE: another claim on this policy used its cover while this one was evaluated; it "
                      "is evaluated again with that claim counted", rule=COVER_STALE,
                      zh="同一保单的另一赔案在本案理算期间使用了保障额度，本案将计入该赔案后重新理算")
    rows.put(COVER, {"application_id": application_id, "uses": uses + 1})


def uses_of(row: Mapping[str, Any] | None) -> int:
    """A policy's cover uses so far from its ``claims_cover`` row (none yet: 0): what ``cover_seen`` records."""
    return int(row["uses"]) if row is not None else 0


def _seconds(start: str, end: str) -> int:
    from ledger.log.identifiers import parse_timestamp

    return int((parse_timestamp(end, field="end") - parse_timestamp(start, field="start")).total_seconds())


def _micros(at: str) -> int:
    """A recorded_at timestamp as microseconds since 1970-01-01T00:00:00Z."""
    from ledger.log.identifiers import parse_timestamp

    return (parse_timestamp(at, field="recorded_at") - _EPOCH) // timedelta(microseconds=1)


def _fold(rows: Rows, row: dict[str, Any], type: str, f: Mapping[str, Any], *, at: str,
          index: int) -> None:
    if type == ev.DOCUMENTS_RECEIVED:
        for digest in sorted({v for v in f["uploads"].values() if v.startswith("sha256:")}):
            rows.put(DOCUMENTS, {"digest": digest, "claim_id": row["claim_id"], "idx": index})
        if not f["complete"]:
            row["status"] = st.AWAITING_DOCUMENTS
            return
        if row["complete_at"] is None:
            row.update(complete_at=at, complete_idx=index, complete_us=_micros(at))
        if row["paused_at"] is not None:
            row.update(paused_seconds=row["paused_seconds"] + _seconds(row["paused_at"], at), paused_at=None)
        if row["status"] != st.UNDER_REVIEW:
            row["status"] = st.AWAITING_KEYING
    elif type == ev.DOCUMENTS_REQUESTED:
        if row["complete_at"] is not None and row["paused_at"] is None:
            row["paused_at"] = at
        row["status"] = st.AWAITING_DOCUMENTS
    elif type == ev.INVOICE_RECEIVED:
        rows.put(INVOICES, {"invoice_no": f["invoice_no"], "claim_id": row["claim_id"], "idx": index})
        if f.get("digest"):
            rows.put(DOCUMENTS, {"digest": f["digest"], "claim_id": row["claim_id"], "idx": index})
    elif type == ev.ASSESSED:
        assessment = f["assessment"]
        row.update(status=st.UNDER_REVIEW, track=f["track"], flags=len(f["flags"]),
                   sampled=int(bool(f["automatic"].get("sampled"))), assessed_amount=assessment["net"],
                   currency=assessment["currency"])
    elif type == ev.HANDLER_ASSIGNED:
        row["handler"] = f["handler"]
    elif type == ev.DECIDED:
        if f["outcome"] in ("approve", "partial"):
            _count_use(rows, row["application_id"], f.get("cover_seen"))
        row.update(status=st.DECLINED if f["outcome"] == "decline" else st.PAYMENT_PENDING, outcome=f["outcome"],
                   approved_amount=f["amount"]["amount"], automatic=int(bool(f["automatic"])))
        if row["decided_at"] is None:
            row.update(decided_at=at, decided_idx=index, decided_us=_micros(at))
    elif type == ev.PAYMENT_INSTRUCTED:
        _count_use(rows, row["application_id"], f.get("cover_seen"))
        amount = f["amount"]
        rows.put(PAYMENTS, {"payment_id": f["payment_id"], "claim_id": row["claim_id"], "kind": f["kind"],
                            "amount": amount["amount"], "currency": amount["currency"], "payee": f["payee"],
                            "account_digest": f["account_digest"], "status": "instructed", "due_by": f["due_by"],
                            "instructed_at": at, "instructed_idx": index, "settled_idx": None})
        if f.get("replaces"):
            replaced = rows.get(PAYMENTS, (f["replaces"],))
            if replaced is not None:
                rows.put(PAYMENTS, {**replaced, "status": "replaced"})
        if row["status"] == st.PAYMENT_FAILED:
            row["status"] = st.PAYMENT_PENDING
        row["account_digest"] = f["account_digest"]
    elif type == ev.PAYMENT_SETTLED:
        held = rows.get(PAYMENTS, (f["payment_id"],))
        if held is None:
            return
        rows.put(PAYMENTS, {**held, "status": f["status"], "settled_idx": index})
        if f["status"] == "paid":  # everything paid on the claim: advances, the benefit, a top-up after a reopen
            row["paid_amount"] = str(Decimal(row["paid_amount"] or 0) + Decimal(held["amount"]))
        if held["kind"] == "advance":
            return
        if f["status"] == "paid":
            row["status"] = st.PAID
            if row["paid_at"] is None:
                row.update(paid_at=at, paid_idx=index, paid_us=_micros(at))
        else:
            row["status"] = st.PAYMENT_FAILED
    elif type == ev.ACCOUNT_CHANGED:
        row["account_digest"] = f["account_digest"]
    elif type == ev.FLAG_RESOLVED:
        row["flags_confirmed"] += int(bool(f["confirmed"]))
    elif type == ev.REOPENED:
        _count_use(rows, row["application_id"], None)  # it now counts what it paid, not what it was approved
        row.update(status=st.AWAITING_DOCUMENTS if f["documents"] else st.UNDER_REVIEW,
                   reopened=row["reopened"] + 1, outcome=None)
    elif type == ev.APPEALED:
        row.update(status=st.UNDER_REVIEW, appealed=row["appealed"] + 1, handler=f["handler"])
    elif type == ev.CLOSED:
        row["status"] = st.CLOSED
