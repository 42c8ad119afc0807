"""The journal benchmark's report: the issue's targets checked against a run, and one table per section."""

from __future__ import annotations

from typing import Any

from benchkit import Table

SINGLE_P50_MS = 1.0
WRITERS_RATE = 6600.0
GROUP_P50_MS = 1.5
BATCHED_RATE = 5000.0
HTTP_RATE = 1000.0
HTTP_P99_MS = 50.0
PROOF_MEDIAN_MS = 0.5
PROOF_TARGET_SIZE = 1_000_000


def _target(name: str, value: float | None, unit: str, target: str, met: bool | None,
            detail: str = "") -> dict[str, Any]:
    return {"name": name, "value": value, "unit": unit, "target": target, "met": met, "detail": detail}


def _rate(results: dict[str, Any], name: str) -> float | None:
    found = results.get(name, {}).get("events_per_second")
    return None if found is None else float(found["median"])


def _p50(results: dict[str, Any], name: str) -> float | None:
    found = results.get(name, {}).get("latency")
    return None if not found or not found.get("n") else float(found["median_ms"])


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every issue target the run measured: value, target, and whether it is met (None: not measured here)."""
    out: list[dict[str, Any]] = [_target(f"section {name} ran", None, "", "no error", False, error)
                                 for name, error in report.get("errors", {}).items()]
    if "appends" in report:
        res = report["appends"]["results"]
        single, writers, es_single = _p50(res, "ledger_single"), _rate(res, "ledger_concurrent"), _rate(
            res, "es_single")
        out.append(_target("one signed event appended and committed, p50", single, "ms", f"< {SINGLE_P50_MS:g} ms",
                           single is not None and single < SINGLE_P50_MS))
        n = report["settings"]["writers"]
        out.append(_target(f"{n} concurrent single-event writers", writers, "events/s", f">= {WRITERS_RATE:,.0f}/s",
                           writers is not None and writers >= WRITERS_RATE))
        if writers is not None and es_single is not None:
            out.append(_target(f"{n} writers ahead of eventsourcing's single save", writers, "events/s",
                               f"> {es_single:,.0f}/s (eventsourcing, one save at a time)", writers > es_single))
        es_many = _rate(res, "es_concurrent")
        if writers is not None:
            error = res.get("es_concurrent", {}).get("error")
            out.append(_target(f"{n} writers ahead of eventsourcing with {n} threads", writers, "events/s",
                               f"> {es_many:,.0f}/s" if es_many is not None else "eventsourcing did not run",
                               None if es_many is None else writers > es_many, error or ""))
        group = _p50(res, "ledger_group")
        out.append(_target("group of 5 all or none at expected position, p50 (ledger signs the 5)", group, "ms",
                           f"< {GROUP_P50_MS:g} ms", group is not None and group < GROUP_P50_MS))
        batched = _rate(res, "ledger_batched")
        out.append(_target("signed batched append_many(1000), median of rounds", batched, "events/s",
                           f">= {BATCHED_RATE:,.0f}/s", batched is not None and batched >= BATCHED_RATE))
    if "http" in report:
        http = report["http"]
        out.append(_target("HTTP POST /v1/events, 50 clients", http["requests_per_second"], "requests/s",
                           f">= {HTTP_RATE:,.0f}/s", http["requests_per_second"] >= HTTP_RATE,
                           f"generator: {http['generator']}"))
        p99 = http["latency"].get("p99_ms")
        out.append(_target("HTTP POST /v1/events p99", p99, "ms", f"< {HTTP_P99_MS:g} ms",
                           p99 is not None and p99 < HTTP_P99_MS))
        out.append(_target("HTTP nothing lost (entries added == 201 answers)", http["entries_added"], "entries",
                           f"== {http['created']:,} (201 answers)" + ("" if http["count_exact"] else " + in flight"),
                           bool(http["nothing_lost"]),
                           "exact: every client awaited its last answer" if http["count_exact"]
                           else f"{http['in_flight_at_end']} requests were in flight at the end"))
    if "proofs" in report:
        rows = report["proofs"]["sizes"]
        big = [row for row in rows if row["size"] == PROOF_TARGET_SIZE]
        row = big[0] if big else (rows[-1] if rows else None)
        if row is not None:
            for kind in ("inclusion", "consistency"):
                median = float(row["ledger"][f"{kind}_prove"]["median_ms"])
                out.append(_target(f"{kind} proof median at {row['size']:,} entries", median, "ms",
                                   f"< {PROOF_MEDIAN_MS:g} ms at {PROOF_TARGET_SIZE:,}",
                                   median < PROOF_MEDIAN_MS if big else None,
                                   "" if big else f"not measured at {PROOF_TARGET_SIZE:,} in this run"))
    return out


# --- tables ------------------------------------------------------------------------------------------------------


def _ms(summary: dict[str, Any] | None, key: str = "median_ms") -> str:
    return "-" if not summary or key not in summary else f"{summary[key]:.3f}"


def _eps(entry: dict[str, Any]) -> str:
    found = entry.get("events_per_second")
    return "-" if found is None else f"{found['median']:,.0f}"


def _range(entry: dict[str, Any]) -> str:
    found = entry.get("events_per_second")
    return "-" if found is None or len(found["runs"]) < 2 else f"{found['min']:,.0f}-{found['max']:,.0f}"


def _latency_row(label: str, entry: dict[str, Any]) -> list[str]:
    if "error" in entry and "latency" not in entry:
        return [label, "-", "-", "-", entry["error"][:60], "-"]
    lat = entry.get("latency")
    return [label, _ms(lat), _ms(lat, "p90_ms"), _ms(lat, "p99_ms"), _eps(entry), f"{lat['n']:,}" if lat else "-"]


def _cpu(entry: dict[str, Any]) -> list[str]:
    if "cpu_us_per_event" not in entry:
        return ["-", "-"]
    return [f"{entry['cpu_us_per_event']:.0f}", f"{entry['cores']:.2f}"]


def append_tables(report: dict[str, Any]) -> list[Table]:
    appends = report["appends"]
    res, gc, rounds = appends["results"], appends["gc_thresholds"], appends["rounds"]
    s = report["settings"]
    head = ["workload", "p50 ms", "p90 ms", "p99 ms", "events/s", "calls"]
    out: list[Table] = [
        ("1. One signed event appended and committed, one caller, one at a time", head, [
            _latency_row("lifeledger intake.append (pre-signed, verified, sealed, 1 commit)", res["ledger_single"]),
            _latency_row("eventsourcing Application.save, 1 event (SQLite)", res["es_single"]),
            _latency_row("bare sqlite3 one-row commit, WAL + synchronous=FULL (floor)", res["sqlite_bare_single"]),
        ]),
        (f"2. {s['writers']} concurrent single-event writers, {s['writer_events']:,} pre-signed events each; "
         "events/s over wall time; the process's CPU per event (every thread, user + system) and cores busy",
         [*head, "CPU us/event", "cores"], [
            [*_latency_row(f"lifeledger intake.append x {s['writers']} threads", res["ledger_concurrent"]),
             *_cpu(res["ledger_concurrent"])],
            [*_latency_row(f"eventsourcing Application.save x {s['writers']} threads", res["es_concurrent"]),
             *_cpu(res["es_concurrent"])],
            [*_latency_row("eventsourcing Application.save, one thread (from 1.)", res["es_single"]),
             *_cpu(res["es_single"])],
        ]),
        ("3. Group of 5 all or none at expected={stream: 0} on fresh streams (includes the ledger signing the 5 "
         "events)", ["workload", "p50 ms", "p90 ms", "p99 ms", "events/s", "groups"], [
            _latency_row("lifeledger intake.emit_all([Draft x 5], expected=...)", res["ledger_group"])]),
        (f"4. Signed, batched: {s['events']:,} pre-signed events in calls of 1,000, median of {rounds} round(s)",
         ["workload", "events/s", "range"], [
            ["lifeledger intake.append_many(1000)", _eps(res["ledger_batched"]), _range(res["ledger_batched"])],
            ["eventsourcing Application.save, 1000 events/commit", _eps(res["es_batched"]),
             _range(res["es_batched"])],
            ["eventsourcing SQLite recorder insert_events, 1000/commit", _eps(res["es_recorder_batched"]),
             _range(res["es_recorder_batched"])],
        ]),
    ]
    if "appends_gc_defaults" in report:
        dflt = report["appends_gc_defaults"]["results"]
        gc_default = tuple(report["appends_gc_defaults"]["gc_thresholds"])
        rows = []
        for name, label in (("ledger_single", "1. intake.append"), ("ledger_concurrent", f"2. x {s['writers']}"),
                            ("ledger_group", "3. emit_all x 5"), ("ledger_batched", "4. append_many(1000)")):
            tuned_lat, default_lat = res[name].get("latency"), dflt[name].get("latency")
            rows.append([label, _ms(tuned_lat), _ms(default_lat), _ms(tuned_lat, "p99_ms"), _ms(default_lat, "p99_ms"),
                         _eps(res[name]), _eps(dflt[name])])
        out.append((f"GC thresholds: lifeledger at {tuple(gc)} (tuned) vs {gc_default} (CPython default), "
                    f"one round at the defaults", ["workload", "p50 tuned", "p50 default", "p99 tuned",
                                                    "p99 default", "events/s tuned", "events/s default"], rows))
    return out


def http_table(http: dict[str, Any]) -> Table:
    lat = http["latency"]
    return (f"5. HTTP POST /v1/events: {http['connections']} clients for {http['load_seconds']} s against "
            f"lifeledger serve; load from {http['generator']}",
            ["requests/s", "p50 ms", "p90 ms", "p99 ms", "non-2xx", "201 answers", "entries added", "nothing lost",
             "server CPU (cores)"],
            [[f"{http['requests_per_second']:,.0f}", _ms(lat), _ms(lat, "p90_ms"), _ms(lat, "p99_ms"),
              f"{http['non_2xx']:,}", f"{http['created']:,}", f"{http['entries_added']:,}",
              ("yes" if http["nothing_lost"] else "NO") + ("" if http["count_exact"] else " (range)"),
              f"{http['server_cpu_cores_busy']:.2f}"]])


def proof_table(proofs: dict[str, Any]) -> Table:
    rows = []
    for row in proofs["sizes"]:
        led, pm = row["ledger"], row["pymerkle"]
        rows.append([f"{row['size']:,}", _ms(led["inclusion_prove"]), _ms(led["inclusion_prove"], "p99_ms"),
                     _ms(led["inclusion_verify"]), _ms(led["consistency_prove"]),
                     _ms(led["consistency_prove"], "p99_ms"), _ms(led["consistency_verify"]),
                     _ms(row["checkpoint"]), _ms(row["checkpoint"], "p99_ms")])
        if pm:
            rows.append([f"{row['size']:,} pymerkle", _ms(pm["inclusion_prove"]), _ms(pm["inclusion_prove"], "p99_ms"),
                         _ms(pm["inclusion_verify"]), _ms(pm["consistency_prove"]),
                         _ms(pm["consistency_prove"], "p99_ms"), _ms(pm["consistency_verify"]), "-", "-"])
    return ("6. Proofs (ledger.log.inclusion_proof / consistency_proof, each verified apart) and "
            "ledger.log.checkpoint_now() after 1,000 new entries, ms",
            ["entries", "incl. p50", "incl. p99", "incl. verify", "cons. p50", "cons. p99", "cons. verify",
             "checkpoint p50", "checkpoint p99"], rows)


def target_table(checks: list[dict[str, Any]]) -> Table:
    def value(check: dict[str, Any]) -> str:
        if check["value"] is None:
            return "-"
        number = float(check["value"])
        return f"{number:,.3f} {check['unit']}" if check["unit"] == "ms" else f"{number:,.0f} {check['unit']}"

    verdict = {True: "yes", False: "NO", None: "n/a"}
    return ("Targets", ["target", "measured", "wanted", "met"],
            [[c["name"] + (f" ({c['detail']})" if c["detail"] else ""), value(c), c["target"], verdict[c["met"]]]
             for c in checks])


def tables(report: dict[str, Any]) -> list[Table]:
    out: list[Table] = []
    if "appends" in report:
        out.extend(append_tables(report))
    if "http" in report:
        out.append(http_table(report["http"]))
    if "proofs" in report:
        out.append(proof_table(report["proofs"]))
    out.append(target_table(report["targets"]))
    return out


def notes(report: dict[str, Any]) -> list[str]:
    """Lines printed under the tables: what the generator and the fill were."""
    lines = []
    gc = report["gc"]
    if "appends" in report or "proofs" in report:
        lines.append(f"In-process runs (1-4, 6): GC thresholds {tuple(gc['in_effect'])} from api.app.tune_gc(), "
                     f"what a serving process runs (CPython's default: {tuple(gc['interpreter_default'])}); "
                     f"{report['settings']['repeat']} round(s) of 1-4, each on fresh SQLite files, with the peers "
                     f"interleaved in the same rounds; latencies pooled over the rounds, rates the median.")
    if "http" in report:
        http = report["http"]
        lines.append(f"HTTP load: {http['generator']} ({http['generator_version']}); the generator used "
                     f"{http['generator_cpu_seconds']:.1f} s of CPU, the server {http['server_cpu_seconds']:.1f} s, "
                     f"over {http['seconds']:.1f} s; latency of {http['latency_of']}.")
        if "note" in http:
            lines.append(f"Note: {http['note']}.")
    for section, error in report.get("errors", {}).items():
        lines.append(f"Section {section} FAILED: {error}")
    if "proofs" in report:
        fill = report["proofs"]["fill"]
        rate = fill["entries_per_second"]
        lines.append(f"Bulk fill: {fill['entries']:,} entries through WriterSession.commit_batch"
                     + (f" at {rate:,.0f}/s" if rate else "") + f"; pymerkle took {fill['pymerkle_leaves']:,} "
                     f"leaves in {fill['pymerkle_seconds']:.1f} s. Roots checked against an in-memory RFC 9162 tree "
                     f"and pymerkle at every size.")
    return lines
