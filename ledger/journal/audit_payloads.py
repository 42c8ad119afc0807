"""The audit's payload checks: every sealed payload and personal part against its commitment, and every erasure."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ledger.crypto.sealing import unseal, unwrap_key
from ledger.errors import ErasedError, LedgerError
from ledger.journal.opening import Opened
from ledger.log.encoding import digest_str, payload_commitment
from ledger.log.statements import PERSONAL_FIELD, Statement
from ledger.store import Store

Row = tuple[int, str, bytes]  # (entry index, subject, sealed bytes)


class _Rows:
    """A table of sealed rows read in index order alongside the entries, one row held back when it is ahead."""

    def __init__(self, rows: Iterator[Row]) -> None:
        self._rows = rows
        self._held: Row | None = None

    def next(self) -> Row | None:
        if self._held is not None:
            row, self._held = self._held, None
            return row
        return next(self._rows, None)

    def hold(self, row: Row | None) -> None:
        self._held = row


class PayloadChecker:
    """Opens every payload row (and personal part) with the master key and checks it against what was signed.

    ``problems`` collects (where, what). An unreadable row is accepted only if its subject's erasure is recorded
    in the journal and its key is gone (``finish`` checks that once the erasures are known).
    """

    def __init__(self, store: Store, master_key: bytes) -> None:
        self.store = store
        self.master_key = master_key
        self.problems: list[tuple[str, str]] = []
        self.checked = 0
        self.erased = 0
        self._payloads = _Rows(store.iter_payloads())
        self._personal = _Rows(store.iter_personal_parts())
        self._keys: dict[str, bytes | None] = {}
        self._missing_key_rows: set[str] = set()
        self._keyless: dict[str, int] = {}  # subject -> first entry whose key was destroyed
        self._last_sealed: dict[str, int] = {}  # subject -> the last entry with a row sealed under its key

    def facts(self, idx: int, statement: Statement) -> dict[str, Any] | None:
        """The entry's facts if its payload row is readable and matches the statement (None otherwise).

        The commitment is recomputed from the stored canonical bytes and, for version 2 statements, the subject
        the row is sealed under, so a payload filed under another subject than the signer's is named. A personal
        part is checked against the digest the facts name.
        """
        row = self._take(self._payloads, idx, "payloads", required=True)
        personal = self._take(self._personal, idx, "personal_payloads", required=False)
        if row is None:
            return None
        opened = self._open(row, "payloads")
        if opened is None:
            return None
        self.checked += 1
        _, subject, _ = row
        commitment = payload_commitment(salt=opened.salt, payload_canonical=opened.payload_bytes,
                                        data_subject=subject if statement.version >= 2 else None)
        if commitment != statement.payload_hash:
            self.problems.append((f"payloads[{idx}]", "payload or its data subject does not match the leaf's "
                                                      "payload_hash"))
            return None
        try:
            payload = opened.payload
        except LedgerError as exc:
            self.problems.append((f"payloads[{idx}]", exc.message))
            return None
        if not isinstance(payload, dict):
            self.problems.append((f"payloads[{idx}]", "payload is not a JSON object"))
            return None
        self._check_personal(idx, payload.get(PERSONAL_FIELD), personal)
        return {name: value for name, value in payload.items() if name != PERSONAL_FIELD}

    def finish(self, erasures: dict[str, int]) -> None:
        """Report rows left over, and keys destroyed without a recorded erasure (or kept despite one)."""
        for rows, table in ((self._payloads, "payloads"), (self._personal, "personal_payloads")):
            extra = rows.next()
            while extra is not None:
                self.problems.append((f"{table}[{extra[0]}]", "row has no journal entry"))
                extra = rows.next()
        for subject, idx in sorted(self._keyless.items(), key=lambda item: item[1]):
            if subject not in erasures and subject not in self._missing_key_rows:
                self.problems.append((f"subject_keys[{subject}]", f"key destroyed (first unreadable payload: entry "
                                                                  f"{idx}) but no erasure is recorded in the journal"))
        kept = self.store.wrapped_keys(sorted(erasures))
        for subject, idx in erasures.items():
            if kept.get(subject) is not None:
                self.problems.append((f"subject_keys[{subject}]", f"erasure recorded at entry {idx} but the key "
                                                                  f"exists"))
            later = self._last_sealed.get(subject, -1)
            if later > idx:
                self.problems.append((f"entries[{later}]", f"sealed for data subject {subject!r} after its erasure "
                                                           f"at entry {idx}: nothing is recorded for a subject once "
                                                           f"erased"))

    # -- helpers ---------------------------------------------------------------------------------------------

    def _take(self, rows: _Rows, idx: int, table: str, *, required: bool) -> Row | None:
        """The row of entry ``idx`` (rows are read in index order; stray rows before it are named)."""
        while True:
            row = rows.next()
            if row is None or row[0] > idx:
                rows.hold(row)
                if required:
                    self.problems.append((f"entries[{idx}]", "payload row is missing"))
                return None
            if row[0] == idx:
                return row
            self.problems.append((f"{table}[{row[0]}]", "row has no journal entry"))

    def _open(self, row: Row, table: str) -> Opened | None:
        idx, subject, sealed = row
        self._last_sealed[subject] = max(idx, self._last_sealed.get(subject, -1))
        try:
            return Opened.of(unseal(data_key=self._key(subject), index=idx, subject=subject, sealed=sealed))
        except ErasedError:
            self.erased += 1
            self._keyless.setdefault(subject, idx)
        except LedgerError as exc:
            self.problems.append((f"{table}[{idx}]", exc.message))
        return None

    def _check_personal(self, idx: int, named: Any, row: Row | None) -> None:
        if named is None:
            if row is not None:
                self.problems.append((f"personal_payloads[{idx}]", "personal part that the payload does not "
                                                                   "commit to"))
            return
        if row is None:
            self.problems.append((f"entries[{idx}]", "the payload commits to a personal part that is missing"))
            return
        opened = self._open(row, "personal_payloads")
        if opened is None:
            return
        self.checked += 1
        digest = payload_commitment(salt=opened.salt, payload_canonical=opened.payload_bytes, data_subject=row[1])
        if digest_str(digest) != named:
            self.problems.append((f"personal_payloads[{idx}]", "personal part does not match the digest its "
                                                               "payload commits to"))

    def _key(self, subject: str) -> bytes | None:
        if subject not in self._keys:
            wrapped = self.store.wrapped_keys([subject])
            if subject not in wrapped:
                self._missing_key_rows.add(subject)
                self.problems.append((f"subject_keys[{subject}]", "no key row for a subject that has payloads"))
                self._keys[subject] = None
            elif wrapped[subject] is None:
                self._keys[subject] = None
            else:
                try:
                    self._keys[subject] = unwrap_key(master_key=self.master_key, subject=subject,
                                                     wrapped=wrapped[subject])  # type: ignore[arg-type]
                except LedgerError as exc:
                    self.problems.append((f"subject_keys[{subject}]", exc.message))
                    self._keys[subject] = None
        return self._keys[subject]
