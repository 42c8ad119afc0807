"""The store's contract, run against a real SQLite file and a real PostgreSQL server: every backend must keep it.

Like eventsourcing's recorder tests, one set of tests, parametrised by ``backend``: migrations, the group commit
and its compare-and-set, the journal reads, the projection tables (``RowStore``) and the anchoring outbox.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, func, insert, inspect, select

from ledger.errors import NotFound, StorageError
from ledger.log import merkle
from ledger.settings import Settings
from ledger.store import Batch, CheckpointRow, EntryRow, HeadMoved, Store
from ledger.store import schema as t
from ledger.store.anchors import CHECKPOINT, CONFIRMED, DOCUMENTS, PENDING, SENT, SKIPPED, AnchorJob, AnchorStore
from ledger.store.migrate import alembic_config
from ledger.store.rows import RowStore
from ledger.store.specs import Changes, Column, Key, Row, TableSpec

pytestmark = pytest.mark.usefixtures("backend")

AT = "2025-01-01T00:00:00Z"
SUBJECT, OTHER, LEDGER = "customer:c1", "customer:c2", "ledger"
WRAPPED = b"\x01wrapped-key\x00" * 4
ADDRESS_A, ADDRESS_B, ADDRESS_C = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20

# A single text key with a secondary index; a (text, int) key with bytes, bool, nullable and big int columns; a
# table that is all key (its upsert does nothing on conflict); and the anchoring outbox, a migrated table.
NOTES = TableSpec("contract_notes", (Column("name", "text"), Column("owner", "text"), Column("body", "bytes"),
                                     Column("rank", "int")), key=("name",), indexes=(("owner",),))
PAIRS = TableSpec("contract_pairs", (Column("stream", "text"), Column("seq", "int"), Column("blob", "bytes"),
                                     Column("flag", "bool"), Column("note", "text", nullable=True),
                                     Column("big", "int")), key=("stream", "seq"))
TAGS = TableSpec("contract_tags", (Column("tag", "text"),), key=("tag",))
OUTBOX = TableSpec("document_ops", (Column("idx", "int", True), Column("op", "text"), Column("digest", "bytes"),
                                    Column("created_at", "text")), key=("idx",), outbox=True)
SPECS = (NOTES, PAIRS, TAGS, OUTBOX)
# Values at the edges of what the column types hold: they must come back exactly, of the same Python type.
EDGE_ROWS: tuple[Row, ...] = (
    {"stream": "edge", "seq": 2**62, "blob": bytes(range(256)), "flag": True, "note": None, "big": 2**63 - 1},
    {"stream": "edge", "seq": -(2**62), "blob": b"", "flag": False, "note": "ünïcødé 保单 \x01", "big": -(2**63)},
    {"stream": "edge", "seq": 0, "blob": b"\x00" * 3, "flag": True, "note": "", "big": 0},
)
# Projection tables the first migrations created before projections were rebuilt from specs (left for them).
LEGACY_PROJECTIONS = {"streams", "system_keys"}

# -- factories -------------------------------------------------------------------------------------------------


def entry(idx: int, *, event_id: str | None = None, stream: str = "policy:p1", seq: int | None = None) -> EntryRow:
    leaf = f"leaf-{idx}-{event_id}".encode()
    return EntryRow(idx=idx, event_id=event_id or f"evt-{idx}", stream=stream, seq=idx + 1 if seq is None else seq,
                    type="policy.issued", key_id="policy-admin-1", recorded_at=f"2025-01-01T00:00:{idx % 60:02d}Z",
                    leaf=leaf, leaf_hash=merkle.leaf_hash(leaf))


def sealed(idx: int, part: str = "whole") -> bytes:
    return f"{part}-{idx}".encode() + b"\x00\xff"


def batch_of(store: Store, count: int, *, subject: str = SUBJECT, new_key: bool = False, **entry_args: Any) -> Batch:
    """A batch extending the log by ``count`` entries: leaf nodes, a payload each, a personal part for even ones."""
    start = store.size()
    rows = [entry(idx, **entry_args) for idx in range(start, start + count)]
    return Batch(expected_size=start, entries=rows, nodes=[((0, row.idx), row.leaf_hash) for row in rows],
                 payloads=[(row.idx, subject, sealed(row.idx)) for row in rows],
                 personal=[(row.idx, subject, sealed(row.idx, "personal")) for row in rows if row.idx % 2 == 0],
                 new_subject_keys=[(subject, WRAPPED, AT)] if new_key else [])


def append(store: Store, count: int, **batch_args: Any) -> list[EntryRow]:
    batch = batch_of(store, count, **batch_args)
    store.commit_batch(batch)
    return batch.entries


def erase(store: Store, subject: str, *, at: str = AT) -> None:
    """Commit an erasure the way the writer does: an entry recording it, and the key destroyed with it."""
    batch = batch_of(store, 1, subject=LEDGER, event_id=f"erase-{subject}-{store.size()}", stream="ledger:erasures")
    batch.erased = [(subject, at)]
    store.commit_batch(batch)


def erased_at(store: Store, subject: str) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(t.subject_keys.c.erased_at).where(t.subject_keys.c.subject == subject)).scalar()


def note(name: str, *, owner: str = "alice", rank: int = 0) -> Row:
    return {"name": name, "owner": owner, "body": name.encode() + b"\x00", "rank": rank}


def pair(stream: str, seq: int, **values: Any) -> Row:
    return {"stream": stream, "seq": seq, "blob": b"\x00" + stream.encode(), "flag": seq % 2 == 0, "note": None,
            "big": seq * 1000, **values}


def op_row(idx: int | None, op: str = "register") -> Row:
    return {"idx": idx, "op": op, "digest": bytes([idx or 0]) * 32, "created_at": AT}


def upserts(spec: TableSpec, *rows: Row) -> Changes:
    return Changes(rows={spec.name: {spec.key_of(row): row for row in rows}})


def write(store: Store, changes: Changes) -> None:
    """Commit projection row changes the way the writer does: a batch of no entries, at the current size."""
    store.commit_batch(Batch(expected_size=store.size(), changes=changes))


def checkpoint(size: int, root: int = 1) -> CheckpointRow:
    return CheckpointRow(tree_size=size, root=bytes([root]) * 32, note=f"note {size}\n", created_at=AT)


def footprint(store: Store) -> dict[str, Any]:
    """Everything a batch can touch, to show that a refused one left nothing behind."""
    tables = ("entries", "tree_nodes", "payloads", "personal_payloads", "subject_keys", "document_ops")
    return {"size": store.size(), "keys": store.wrapped_keys([SUBJECT, OTHER]),
            **{name: store.count_rows(name) for name in tables},
            **{spec.name: list(store.rows.scan(spec.name)) for spec in (NOTES, PAIRS)}}


def statements(store: Store, mentioning: str) -> tuple[list[str], Callable[[], None]]:
    """Record the SQL statements that mention ``mentioning``; returns them and a function that stops recording."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if mentioning in sql:
            seen.append(sql)

    event.listen(store.engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(store.engine, "before_cursor_execute", record)


def types_of(row: Row) -> dict[str, type]:
    """The Python type of every value: bool must stay bool (not 1), bytes stay bytes (not memoryview)."""
    return {name: type(value) for name, value in row.items()}


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        return type(exc).__name__


# -- fixtures --------------------------------------------------------------------------------------------------


@pytest.fixture
def open_store(settings: Settings) -> Iterator[Callable[..., Store]]:
    """Opens stores on this test's database (``specs`` default to all of SPECS); closes them afterwards."""
    opened: list[Store] = []

    def open_(*specs: TableSpec) -> Store:
        store = Store.open(settings.resolved_database_url, specs=specs or SPECS)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., Store]) -> Store:
    """A migrated store whose projection tables exist, empty."""
    opened = open_store()
    for name in opened.rows.stale():
        opened.rows.rebuild(name, [])
    return opened


@pytest.fixture
def anchors(store: Store) -> AnchorStore:
    return AnchorStore(store.engine)


# -- migrations ------------------------------------------------------------------------------------------------


def test_fresh_database_opens_at_newest_schema_and_reopening_is_harmless(open_store: Callable[..., Store]) -> None:
    first = open_store()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with first.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == (head,)
        drift = compare_metadata(MigrationContext.configure(conn), t.metadata)
    # The migrations build exactly what schema.py declares (tables, columns, types, keys, indexes).
    assert [d for d in drift if not (d[0] == "remove_table" and d[1].name in LEGACY_PROJECTIONS)] == []
    assert first.size() == 0 and first.count_rows("log_head") == 1
    written = append(first, 3, new_key=True)

    again = open_store()  # while the first is still connected
    with again.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == (head,)
    assert again.size() == 3 and again.count_rows("log_head") == 1
    assert list(again.iter_entries()) == written
    assert again.wrapped_keys([SUBJECT]) == {SUBJECT: WRAPPED}


# -- commit_batch ----------------------------------------------------------------------------------------------


def test_commit_batch_lands_everything_together(store: Store) -> None:
    append(store, 1, subject=OTHER, new_key=True)
    batch = batch_of(store, 3, new_key=True)
    batch.nodes.append(((1, 0), merkle.node_hash(batch.entries[0].leaf_hash, batch.entries[1].leaf_hash)))
    batch.new_subject_keys.append(("customer:brief", b"brief-key", AT))
    batch.personal.append((1, "customer:brief", sealed(1, "brief")))
    batch.erased = [(OTHER, "2025-03-01T00:00:00Z"), ("customer:brief", "2025-03-02T00:00:00Z")]  # one born here
    batch.changes = Changes(rows={NOTES.name: {("a",): note("a")}, PAIRS.name: {("s", 1): pair("s", 1)}},
                            outbox={OUTBOX.name: [op_row(2)]})
    store.commit_batch(batch)

    assert store.size() == 4
    assert list(store.iter_entries(1)) == batch.entries
    assert store.read_nodes([node for node, _ in batch.nodes]) == dict(batch.nodes)
    assert list(store.iter_payloads())[1:] == batch.payloads
    assert list(store.iter_personal_parts())[1:] == sorted(batch.personal) == [
        (1, "customer:brief", sealed(1, "brief")), (2, SUBJECT, sealed(2, "personal"))]
    assert store.wrapped_keys([SUBJECT, OTHER, "customer:brief"]) == {SUBJECT: WRAPPED, OTHER: None,
                                                                      "customer:brief": None}
    assert (erased_at(store, OTHER), erased_at(store, "customer:brief"), erased_at(store, SUBJECT)) == \
        ("2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z", None)
    assert store.rows.read(NOTES.name, [("a",)]) == {("a",): note("a")}
    assert store.rows.read(PAIRS.name, [("s", 1)]) == {("s", 1): pair("s", 1)}
    assert [{k: row[k] for k in ("idx", "op", "digest")} for row in store.rows.scan(OUTBOX.name)] == \
        [{"idx": 2, "op": "register", "digest": bytes([2]) * 32}]


def test_stale_expected_size_raises_head_moved_and_lands_nothing(store: Store) -> None:
    append(store, 2, new_key=True)
    before = footprint(store)
    for expected in (0, 1, 3, 99):
        stale = batch_of(store, 2, subject=OTHER, new_key=True)
        stale.expected_size = expected
        stale.changes = upserts(NOTES, note(f"stale-{expected}"))
        stale.changes.outbox = {OUTBOX.name: [op_row(expected)]}
        stale.erased = [(SUBJECT, AT)]
        with pytest.raises(HeadMoved, match="extended by another writer"):
            store.commit_batch(stale)
        assert footprint(store) == before
    assert store.wrapped_keys([SUBJECT, OTHER]) == {SUBJECT: WRAPPED}

    store.commit_batch(batch_of(store, 1))  # the right size still lands
    assert store.size() == 3


def test_only_one_of_several_batches_prepared_at_the_same_size_lands(store: Store) -> None:
    writers = 4
    batches = [Batch(expected_size=0, entries=[entry(0, event_id=f"evt-w{n}", stream=f"policy:w{n}")],
                     changes=upserts(NOTES, note(f"w{n}"))) for n in range(writers)]
    start = threading.Barrier(writers)

    def commit(batch: Batch) -> str:
        start.wait()
        return outcome(lambda: store.commit_batch(batch)) or "landed"

    with ThreadPoolExecutor(writers) as pool:
        results = list(pool.map(commit, batches))

    assert sorted(results) == ["HeadMoved"] * (writers - 1) + ["landed"]
    winner = results.index("landed")
    assert store.size() == 1 and list(store.iter_entries()) == batches[winner].entries
    assert [row["name"] for row in store.rows.scan(NOTES.name)] == [f"w{winner}"]


def test_batch_for_a_subject_erased_meanwhile_raises_head_moved(store: Store) -> None:
    append(store, 1, new_key=True)
    whole, personal_only = batch_of(store, 2), batch_of(store, 2, subject=OTHER)  # prepared while the key existed
    personal_only.personal = [(idx, SUBJECT, part) for idx, _, part in personal_only.personal]
    erase(store, SUBJECT)  # the erasure is an entry: it moves the head under both
    before = footprint(store)
    assert before["keys"] == {SUBJECT: None} and store.count_sealed(SUBJECT) == 2
    for prepared in (whole, personal_only):
        with pytest.raises(HeadMoved):
            store.commit_batch(prepared)
        assert footprint(store) == before


# Each turns a fresh batch into one that takes a unique key already taken (in the store or in the batch itself).
CLASHES: dict[str, Callable[[Batch], None]] = {
    "event_id": lambda b: b.entries.__setitem__(0, replace(b.entries[0], event_id="evt-0")),
    "stream and seq": lambda b: b.entries.__setitem__(0, replace(b.entries[0], stream="policy:p1", seq=2)),
    "event_id in the batch": lambda b: b.entries.__setitem__(1, replace(b.entries[1], event_id=b.entries[0].event_id)),
    "seq in the batch": lambda b: b.entries.__setitem__(1, replace(b.entries[1], seq=b.entries[0].seq)),
    "tree node": lambda b: b.nodes.append(((0, 0), b"\x00" * 32)),
    "payload": lambda b: b.payloads.append((0, OTHER, b"again")),
    "subject key": lambda b: b.new_subject_keys.append((SUBJECT, WRAPPED, AT)),
    "outbox idx": lambda b: b.changes.outbox.update({OUTBOX.name: [op_row(1, "revoke")]}),
}


def test_unique_key_violation_raises_storage_error_with_a_reference_only(
        store: Store, caplog: pytest.LogCaptureFixture) -> None:
    append(store, 2, new_key=True)  # evt-0 and evt-1: policy:p1 seq 1 and 2
    store.commit_batch(Batch(expected_size=2, changes=Changes(outbox={OUTBOX.name: [op_row(1)]})))
    before = footprint(store)

    for name, clash in CLASHES.items():
        batch = batch_of(store, 2, subject=OTHER, new_key=True, stream="policy:p2")
        batch.changes = Changes(rows={NOTES.name: {("clash",): note("clash")}, PAIRS.name: {("s", 1): pair("s", 1)}})
        batch.erased = [(SUBJECT, AT)]
        clash(batch)
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="ledger.store.database"), pytest.raises(StorageError) as info:
            store.commit_batch(batch)
        message = str(info.value)
        reference = re.fullmatch(r"appending a batch failed in the database \(ref ([0-9a-f]{12})\); "
                                 r"the server log has the details", message)
        assert reference is not None, (name, message)
        assert info.value.message == message and info.value.field is None
        for leak in ("unique", "duplicate", "integrity", "constraint", "violat", "insert", "sql", "psycopg",
                     "entries", "event_id", "tree_nodes", "payloads", "subject_keys", "document_ops", "evt-"):
            assert leak not in message.lower(), (name, leak)
        # The details go to the server log, under the same reference.
        assert [r for r in caplog.records if reference[1] in r.getMessage() and "unique" in r.getMessage().lower()], \
            name
        assert footprint(store) == before, name


# -- journal reads ---------------------------------------------------------------------------------------------


def test_entries_by_index_and_by_event_id(store: Store) -> None:
    written = append(store, 3) + append(store, 2)
    assert [store.entry(row.idx) for row in written] == written
    assert store.entry_by_event_id("evt-3") == written[3]
    assert store.entries_by_event_ids(["evt-1", "evt-4", "evt-1", "evt-missing"]) == \
        {"evt-1": written[1], "evt-4": written[4]}
    assert store.entries_by_event_ids([]) == {}
    with pytest.raises(NotFound, match="no entry at index 5") as by_index:
        store.entry(5)
    assert by_index.value.field == "index"
    with pytest.raises(NotFound, match="'evt-missing'") as by_id:
        store.entry_by_event_id("evt-missing")
    assert by_id.value.field == "event_id"


def test_iter_entries_reads_across_chunk_boundaries(store: Store) -> None:
    written = append(store, 4) + append(store, 3) + append(store, 3)
    for chunk in (1, 3, 5, 10, 11):  # 5 and 10 divide the size: the last chunk read is empty
        assert list(store.iter_entries(chunk=chunk)) == written, chunk
        assert list(store.iter_entries(2, 9, chunk=chunk)) == written[2:9], chunk
        assert list(store.iter_entries(8, 20, chunk=chunk)) == written[8:], chunk
        assert list(store.iter_entries(4, 4, chunk=chunk)) == [], chunk
        assert list(store.iter_entries(10, chunk=chunk)) == [], chunk


def test_read_nodes_reads_in_one_query_per_chunk_and_names_missing_nodes(store: Store) -> None:
    append(store, 10)
    upper = [((1, idx), merkle.leaf_hash(idx.to_bytes(8, "big"))) for idx in range(450)]
    store.commit_batch(Batch(expected_size=10, nodes=upper))
    leaves = [(0, idx) for idx in range(10)]

    seen: list[str] = []
    real = store._readers.query  # proofs read nodes on a pooled DBAPI connection: count its queries
    store._readers.query = lambda sql, params: (seen.append(sql), real(sql, params))[1]  # type: ignore[method-assign]
    try:
        small = store.read_nodes([*leaves, (1, 3), leaves[0]])
        few = len(seen)
        everything = store.read_nodes([node for node, _ in upper])
    finally:
        del store._readers.query
    assert (few, len(seen) - few) == (1, 2)  # 450 nodes: two chunks of at most 400
    assert all("FROM tree_nodes" in sql for sql in seen)
    assert small == {**{(0, row.idx): row.leaf_hash for row in store.iter_entries()}, (1, 3): upper[3][1]}
    assert everything == dict(upper)
    assert store.read_nodes([]) == {}
    with pytest.raises(NotFound, match=re.escape("missing from the store: [(7, 7), (0, 99)]")):
        store.read_nodes([(0, 0), (7, 7), (1, 449), (0, 99)])


def test_payloads_and_personal_parts_read_in_index_order(store: Store) -> None:
    batch = batch_of(store, 7, new_key=True)
    batch.payloads.reverse()  # inserted out of order
    batch.personal.reverse()
    batch.personal.append((1, OTHER, sealed(1, "personal")))
    store.commit_batch(batch)

    payloads = sorted(batch.payloads)
    personal = sorted(batch.personal)
    for chunk in (1, 2, 3, 5000):
        assert list(store.iter_payloads(chunk=chunk)) == payloads
        assert list(store.iter_personal_parts(chunk=chunk)) == personal
    assert store.payload(4) == (SUBJECT, sealed(4))
    assert store.personal_part(1) == (OTHER, sealed(1, "personal"))
    assert store.personal_part(3) is None
    with pytest.raises(NotFound, match="no payload for entry 7") as missing:
        store.payload(7)
    assert missing.value.field == "index"


def test_wrapped_keys_erasure_and_count_sealed(store: Store) -> None:
    batch = batch_of(store, 5, new_key=True)  # 5 payloads and 3 personal parts of SUBJECT
    batch.new_subject_keys.append((OTHER, b"other-key", AT))
    batch.payloads[4] = (4, OTHER, sealed(4))
    batch.personal.append((1, OTHER, sealed(1, "personal")))
    store.commit_batch(batch)
    assert store.wrapped_keys([SUBJECT, OTHER, "customer:unknown", SUBJECT]) == {SUBJECT: WRAPPED,
                                                                                  OTHER: b"other-key"}
    assert store.wrapped_keys([]) == {}

    counts = {subject: store.count_sealed(subject) for subject in (SUBJECT, OTHER, "customer:unknown")}
    assert counts == {SUBJECT: 4 + 3, OTHER: 1 + 1, "customer:unknown": 0}

    erase(store, SUBJECT, at="2025-03-01T00:00:00Z")
    assert store.wrapped_keys([SUBJECT, OTHER, "customer:unknown"]) == {SUBJECT: None, OTHER: b"other-key"}
    assert erased_at(store, SUBJECT) == "2025-03-01T00:00:00Z" and erased_at(store, OTHER) is None
    # Only the key goes: the sealed rows stay (unreadable), and still count.
    assert store.count_sealed(SUBJECT) == 4 + 3 and store.payload(0) == (SUBJECT, sealed(0))
    erase(store, "customer:unknown")  # no key: nothing to destroy, nothing created
    assert store.wrapped_keys(["customer:unknown"]) == {}
    erase(store, OTHER)
    assert store.wrapped_keys([SUBJECT, OTHER]) == {SUBJECT: None, OTHER: None}


def test_checkpoints(store: Store) -> None:
    assert store.latest_checkpoint() is None and store.first_checkpoint_covering(0) is None
    for size in (4, 8, 2):
        assert store.insert_checkpoint(checkpoint(size)) is True
    assert store.insert_checkpoint(checkpoint(4, root=9)) is False  # another process cut size 4 first
    assert store.checkpoint(4) == checkpoint(4)
    assert list(store.iter_checkpoints()) == [checkpoint(2), checkpoint(4), checkpoint(8)]
    assert store.latest_checkpoint() == checkpoint(8)
    covering = {index: store.first_checkpoint_covering(index) for index in (0, 1, 2, 3, 7, 8)}
    assert covering == {0: checkpoint(2), 1: checkpoint(2), 2: checkpoint(4), 3: checkpoint(4), 7: checkpoint(8),
                        8: None}
    with pytest.raises(NotFound, match="no checkpoint of tree size 5") as info:
        store.checkpoint(5)
    assert info.value.field == "tree_size"


def test_claim_meta_keeps_the_first_value(store: Store) -> None:
    assert store.claim_meta("checkpoint_vkey", "first") == "first"
    assert store.claim_meta("checkpoint_vkey", "second") == "first"
    assert store.claim_meta("master_key_check", "other") == "other"


def test_write_calls_wait_for_a_concurrent_writer_instead_of_failing(store: Store, anchors: AnchorStore) -> None:
    """While another writer's transaction is open, every write call waits for it (busy timeout, row locks)."""
    append(store, 1, new_key=True)
    calls: dict[str, Callable[[], Any]] = {
        "claim_meta": lambda: store.claim_meta("owner", "second"),
        "rebuild": lambda: store.rows.rebuild(TAGS.name, [{"tag": "rebuilt"}]),
        "commit_batch": lambda: store.commit_batch(batch_of(store, 1, subject=OTHER)),
        "insert_checkpoint": lambda: store.insert_checkpoint(checkpoint(1)),
        "create_job": lambda: anchors.create_job(kind=CHECKPOINT, chain_id=1, contract=ADDRESS_A, at=AT),
        "try_lease": lambda: anchors.try_lease("anchoring", owner="worker-1", ttl=30.0, now=100.0),
        "record_deployment": lambda: anchors.record_deployment(1, {"LedgerAnchor": ADDRESS_A}, at=AT),
    }
    with ThreadPoolExecutor(len(calls)) as pool, \
            store.engine.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE") as holder:
        with holder.begin():
            holder.execute(insert(t.meta).values(key="owner", value="first"))
            running = {name: pool.submit(outcome, call) for name, call in calls.items()}
            time.sleep(0.3)  # the calls reach the database while the holder's transaction is open
        results = {name: future.result(timeout=30) for name, future in running.items()}

    assert results == {"claim_meta": "first", "rebuild": None, "commit_batch": None, "insert_checkpoint": True,
                       "create_job": 1, "try_lease": True, "record_deployment": None}


# -- projection tables (RowStore) ------------------------------------------------------------------------------


def test_stale_and_rebuild_follow_the_spec_fingerprint(open_store: Callable[..., Store]) -> None:
    first = open_store(NOTES, PAIRS, OUTBOX)
    assert first.rows.stale() == [NOTES.name, PAIRS.name]  # the outbox is migrated, never rebuilt

    first.rows.rebuild(NOTES.name, [note("a"), note("b", owner="bob")])
    assert first.rows.stale() == [PAIRS.name]
    with first.engine.connect() as conn:
        recorded = conn.execute(select(t.meta.c.value).where(t.meta.c.key == f"projection:{NOTES.name}")).scalar()
        indexes = {index["name"] for index in inspect(conn).get_indexes(NOTES.name)}
    assert recorded == NOTES.fingerprint() and indexes == {"ix_contract_notes_owner"}
    assert first.rows.read(NOTES.name, [("a",), ("b",)]) == {("a",): note("a"), ("b",): note("b", owner="bob")}
    first.rows.rebuild(NOTES.name, [note("c")])  # a rebuild replaces every row
    assert list(first.rows.scan(NOTES.name)) == [note("c")]

    another_column = replace(NOTES, columns=(*NOTES.columns, Column("extra", "text", nullable=True)))
    another_index = replace(NOTES, indexes=(("owner",), ("rank", "owner")))
    another_revision = replace(NOTES, revision=1)  # same columns, other contents: rebuilt as well
    assert replace(NOTES, revision=0).fingerprint() == NOTES.fingerprint()  # tables built before revisions stand
    for changed in (another_column, another_index, another_revision):
        assert open_store(changed, PAIRS).rows.stale() == [NOTES.name, PAIRS.name]
    widened = open_store(another_column, PAIRS)
    widened.rows.rebuild(NOTES.name, [{**note("d"), "extra": "x"}, {**note("e"), "extra": None}])
    assert widened.rows.stale() == [PAIRS.name]
    assert list(widened.rows.scan(NOTES.name)) == [{**note("d"), "extra": "x"}, {**note("e"), "extra": None}]
    assert first.rows.stale() == [NOTES.name, PAIRS.name]  # built with another shape than ``first`` declares


def test_read_by_keys_in_chunks(store: Store) -> None:
    notes = [note(f"n{i:04d}", rank=i) for i in range(900)]
    pairs = [pair(f"s{i % 7}", i) for i in range(1000)]
    store.rows.rebuild(NOTES.name, notes)
    store.rows.rebuild(PAIRS.name, pairs)

    note_keys: list[Key] = [(row["name"],) for row in notes] + [("missing",)]
    pair_keys: list[Key] = [(row["stream"], row["seq"]) for row in pairs] + [("s1", 0), ("s0", 1), ("zz", 1)]
    seen, stop = statements(store, "FROM contract_")
    try:
        assert store.rows.read(NOTES.name, note_keys) == {(row["name"],): row for row in notes}
        assert store.rows.read(PAIRS.name, pair_keys) == {(row["stream"], row["seq"]): row for row in pairs}
        assert store.rows.read(PAIRS.name, [("s3", 3), ("s3", 4), ("s4", 3)]) == {("s3", 3): pairs[3]}
    finally:
        stop()
    assert len(seen) == 3 + 3  # chunks of 400 keys; the three-key read is plain SQL on the reader pool
    assert store.rows.read(NOTES.name, []) == {}


def test_select_filters_orders_and_limits(store: Store) -> None:
    notes = [note(f"n{i}", owner="bob" if i % 2 else "alice", rank=i % 4) for i in range(10)]
    store.rows.rebuild(NOTES.name, notes)
    store.rows.rebuild(PAIRS.name, [pair("a", 1, note="x"), pair("a", 2), pair("b", 1)])

    bob = store.rows.select(NOTES.name, where={"owner": "bob"}, order_by=["-rank", "name"], limit=3)
    assert [(row["name"], row["rank"]) for row in bob] == [("n3", 3), ("n7", 3), ("n1", 1)]
    ordered = store.rows.select(NOTES.name, order_by=["owner", "-name"])
    assert [row["name"] for row in ordered] == ["n8", "n6", "n4", "n2", "n0", "n9", "n7", "n5", "n3", "n1"]
    assert store.rows.select(NOTES.name, where={"owner": "bob", "rank": 1}, order_by=["name"]) == \
        [notes[1], notes[5], notes[9]]
    assert store.rows.select(NOTES.name, where={"owner": "nobody"}) == []
    assert store.rows.select(NOTES.name, order_by=["name"], limit=0) == []
    assert store.rows.select(PAIRS.name, where={"note": None}, order_by=["-stream"]) == [pair("b", 1), pair("a", 2)]
    assert store.rows.select(PAIRS.name, where={"flag": True}) == [pair("a", 2)]


def test_small_reads_on_the_reader_pool_answer_as_sqlalchemy_reads_do(store: Store) -> None:
    """Reads of a few keys and ``select`` by column values take plain SQL on the reader pool; a store without
    the pool reads the same rows through SQLAlchemy: the answers, and the types of every value, are the same."""
    store.rows.rebuild(PAIRS.name, [*EDGE_ROWS, pair("a", 1, note="x"), pair("a", 2), pair("b", 1)])
    store.rows.rebuild(NOTES.name, [note(f"n{i}", owner="bob" if i % 2 else "alice", rank=i % 4) for i in range(9)])
    plain, general = store.rows, RowStore(store.engine, SPECS)
    reads: list[Callable[[RowStore], Any]] = [
        lambda rows: rows.read(PAIRS.name, [("edge", 2**62), ("a", 2), ("nowhere", 0)]),
        lambda rows: rows.read(NOTES.name, [("n3",)]),
        lambda rows: rows.select(PAIRS.name, where={"stream": "edge"}, order_by=["-seq"]),
        lambda rows: rows.select(PAIRS.name, where={"flag": True, "stream": "a"}),
        lambda rows: rows.select(NOTES.name, where={"owner": "bob"}, order_by=["-rank", "name"], limit=2),
        lambda rows: rows.select(NOTES.name, order_by=["name"], limit=0),
    ]
    for read in reads:
        mine, theirs = read(plain), read(general)
        assert mine == theirs
        listed = list(mine.values()) if isinstance(mine, dict) else mine
        assert [types_of(row) for row in listed] == [types_of(row) for row in (
            list(theirs.values()) if isinstance(theirs, dict) else theirs)]
    assert len(plain.select(PAIRS.name, where={"stream": "edge"})) == len(EDGE_ROWS)
    with pytest.raises(KeyError):
        plain.select(NOTES.name, where={"name; DROP TABLE contract_notes": "x"})
    assert len(plain.select(NOTES.name)) == 9


def test_scan_in_key_order_across_chunks(store: Store) -> None:
    # Several chunk boundaries fall inside one stream, and 10 must come after 9 (numbers, not text).
    pairs = [pair(stream, seq) for stream in ("b", "a", "ab", "c") for seq in (10, 2, 9, 1, 30)]
    store.rows.rebuild(PAIRS.name, pairs)
    store.rows.rebuild(NOTES.name, [note(name) for name in ("m", "b", "ba", "a", "z")])

    in_key_order = sorted(pairs, key=lambda row: (row["stream"], row["seq"]))
    for chunk in (1, 3, 4, 5000):
        assert list(store.rows.scan(PAIRS.name, chunk=chunk)) == in_key_order, chunk
        assert [row["name"] for row in store.rows.scan(NOTES.name, chunk=chunk)] == ["a", "b", "ba", "m", "z"], chunk
        assert list(store.rows.scan(TAGS.name, chunk=chunk)) == [], chunk


def test_committed_row_changes_upsert_and_delete(store: Store) -> None:
    write(store, upserts(NOTES, note("a", rank=1), note("b")))
    write(store, upserts(NOTES, note("a", rank=2, owner="bob")))  # the same key again: an update
    assert list(store.rows.scan(NOTES.name)) == [note("a", rank=2, owner="bob"), note("b")]

    write(store, Changes(rows={NOTES.name: {("b",): None, ("c",): note("c"), ("never",): None}}))
    assert list(store.rows.scan(NOTES.name)) == [note("a", rank=2, owner="bob"), note("c")]

    # Row changes go with their batch: a clash in the outbox (written last) takes them back.
    refused = Changes(rows={NOTES.name: {("a",): None, ("d",): note("d")}},
                      outbox={OUTBOX.name: [op_row(1), op_row(1)]})
    with pytest.raises(StorageError):
        write(store, refused)
    assert list(store.rows.scan(NOTES.name)) == [note("a", rank=2, owner="bob"), note("c")]

    # Deletes by two-column key, more than one chunk of them; an all-key table's upsert keeps the row.
    store.rows.rebuild(PAIRS.name, [pair(f"s{i % 3}", i) for i in range(500)])
    write(store, Changes(rows={PAIRS.name: {(f"s{i % 3}", i): None for i in range(450)}}))
    assert list(store.rows.scan(PAIRS.name)) == sorted((pair(f"s{i % 3}", i) for i in range(450, 500)),
                                                       key=lambda row: (row["stream"], row["seq"]))
    write(store, upserts(TAGS, {"tag": "x"}, {"tag": "y"}))
    write(store, upserts(TAGS, {"tag": "x"}))
    assert list(store.rows.scan(TAGS.name)) == [{"tag": "x"}, {"tag": "y"}]


def test_values_round_trip_exactly(store: Store) -> None:
    store.rows.rebuild(PAIRS.name, EDGE_ROWS[:1])  # through the rebuild's insert ...
    write(store, upserts(PAIRS, *EDGE_ROWS[1:]))  # ... and the writer's upsert
    ordered = sorted(EDGE_ROWS, key=lambda row: row["seq"])

    for rows in (list(store.rows.scan(PAIRS.name)), store.rows.select(PAIRS.name, order_by=["seq"]),
                 [store.rows.read(PAIRS.name, [("edge", row["seq"])])[("edge", row["seq"])] for row in ordered]):
        assert rows == ordered
        assert [types_of(row) for row in rows] == [types_of(row) for row in ordered]


def test_outbox_rows_are_inserted_never_upserted(store: Store) -> None:
    assert OUTBOX.name not in store.rows.stale()
    first = Batch(expected_size=0, changes=Changes(outbox={OUTBOX.name: [op_row(5), op_row(None), op_row(None)]}))
    store.commit_batch(first)
    store.commit_batch(Batch(expected_size=0, changes=Changes(outbox={OUTBOX.name: [op_row(None)]})))

    rows = list(store.rows.scan(OUTBOX.name))
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    assert [(row["idx"], row["op"], row["job_id"]) for row in rows] == \
        [(5, "register", None), (None, "register", None), (None, "register", None), (None, "register", None)]
    assert store.rows.read(OUTBOX.name, [(5,)])[(5,)] == rows[0]

    with pytest.raises(StorageError):  # an upsert would have turned this into an update of row 5
        store.commit_batch(Batch(expected_size=0, changes=Changes(outbox={OUTBOX.name: [op_row(5, "revoke")]})))
    assert list(store.rows.scan(OUTBOX.name)) == rows


def test_writer_session_reads_and_commits_what_the_store_does(store: Store) -> None:
    notes = [note(f"n{i:04d}", rank=i) for i in range(450)]
    pairs = [pair(f"s{i % 7}", i) for i in range(450)] + list(EDGE_ROWS)
    write(store, Changes(rows={NOTES.name: {NOTES.key_of(row): row for row in notes},
                               PAIRS.name: {PAIRS.key_of(row): row for row in pairs}}))
    append(store, 2, new_key=True)
    append(store, 1, subject=OTHER, new_key=True)
    erase(store, OTHER)
    note_keys: list[Key] = [NOTES.key_of(row) for row in notes] + [("missing",)]
    pair_keys: list[Key] = [PAIRS.key_of(row) for row in pairs] + [("s1", 0), ("edge", 1)]

    session = store.writer_session()
    try:
        by_session = session.read_rows(PAIRS.name, pair_keys)
        assert by_session == store.rows.read(PAIRS.name, pair_keys) == {PAIRS.key_of(row): row for row in pairs}
        assert [types_of(by_session[PAIRS.key_of(row)]) for row in pairs] == [types_of(row) for row in pairs]
        assert session.read_rows(NOTES.name, note_keys) == {NOTES.key_of(row): row for row in notes}
        assert session.read_rows(NOTES.name, []) == {}
        subjects = [SUBJECT, OTHER, "customer:unknown"]
        assert session.wrapped_keys(subjects) == store.wrapped_keys(subjects) == {SUBJECT: WRAPPED, OTHER: None}
        assert session.recorded_event_ids(["evt-0", "evt-2", "evt-9"]) == {"evt-0", "evt-2"}

        prepared = batch_of(store, 2)
        store.commit_batch(batch_of(store, 1))  # another writer goes first
        with pytest.raises(StorageError, match="extended by another writer"):
            session.commit_batch(prepared)
        landing = batch_of(store, 2)
        session.commit_batch(landing)
    finally:
        session.close()
    assert store.size() == 7 and list(store.iter_entries(5)) == landing.entries


# -- the anchoring outbox (AnchorStore) ------------------------------------------------------------------------


def test_record_deployment_keeps_the_first_record_unless_replaced(anchors: AnchorStore) -> None:
    anchors.record_deployment(31337, {"LedgerAnchor": ADDRESS_A}, at=AT)
    anchors.record_deployment(31337, {"LedgerAnchor": ADDRESS_B, "DocumentRegistry": ADDRESS_C}, at=AT)
    assert anchors.deployment(31337) == {"LedgerAnchor": ADDRESS_A, "DocumentRegistry": ADDRESS_C}
    assert anchors.deployment(1) == {}

    kept = anchors.create_job(kind=CHECKPOINT, chain_id=1, contract=ADDRESS_A, at=AT, tree_size=4)
    retired = anchors.create_job(kind=CHECKPOINT, chain_id=31337, contract=ADDRESS_A, at=AT, tree_size=4)
    anchors.record_deployment(31337, {"LedgerAnchor": ADDRESS_B}, at="2025-02-01T00:00:00Z", replace=True)
    assert anchors.deployment(31337) == {"LedgerAnchor": ADDRESS_B}
    assert anchors.job(retired).status == SKIPPED and "redeployed" in (anchors.job(retired).last_error or "")
    assert anchors.job(kept).status == PENDING


def test_jobs_are_created_updated_and_counted(anchors: AnchorStore) -> None:
    root, tx, block = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    first = anchors.create_job(kind=CHECKPOINT, chain_id=31337, contract=ADDRESS_A, at=AT, tree_size=8, root=root)
    second = anchors.create_job(kind=DOCUMENTS, chain_id=31337, contract=ADDRESS_C, at=AT)
    assert second > first
    created = AnchorJob(id=first, kind=CHECKPOINT, chain_id=31337, contract=ADDRESS_A, tree_size=8, root=root,
                        status=PENDING, tx_hash=None, block_number=None, block_hash=None, confirmations=0,
                        attempts=0, last_error=None, next_attempt_at=0.0, created_at=AT, sent_at=None,
                        confirmed_at=None)
    assert anchors.job(first) == created
    assert anchors.count_jobs() == {PENDING: 2}

    anchors.update_job(first, status=SENT, tx_hash=tx, attempts=1, next_attempt_at=1_700_000_000.25, sent_at=AT)
    anchors.update_job(second, status=CONFIRMED, block_number=2**40, block_hash=block, confirmations=12,
                       last_error="slow node")
    assert anchors.job(first) == replace(created, status=SENT, tx_hash=tx, attempts=1,
                                         next_attempt_at=1_700_000_000.25, sent_at=AT)
    confirmed = anchors.job(second)
    assert (confirmed.status, confirmed.block_number, confirmed.block_hash, confirmed.confirmations,
            confirmed.last_error, confirmed.tree_size, confirmed.root) == (CONFIRMED, 2**40, block, 12, "slow node",
                                                                           None, None)
    assert anchors.count_jobs() == {SENT: 1, CONFIRMED: 1}


def test_lease_is_held_by_one_owner_until_it_expires(anchors: AnchorStore) -> None:
    take = anchors.try_lease
    assert take("anchoring", owner="a", ttl=10.0, now=100.0) is True
    assert take("anchoring", owner="b", ttl=10.0, now=105.0) is False
    assert take("anchoring", owner="a", ttl=10.0, now=105.0) is True  # renewed until 115
    assert take("anchoring", owner="b", ttl=10.0, now=114.0) is False
    assert take("anchoring", owner="b", ttl=10.0, now=116.0) is True
    assert take("anchoring", owner="a", ttl=10.0, now=117.0) is False
    assert take("other-job", owner="a", ttl=10.0, now=117.0) is True  # leases are by name
    anchors.release_lease("anchoring", owner="a")  # not a's to release
    assert take("anchoring", owner="a", ttl=10.0, now=118.0) is False
    anchors.release_lease("anchoring", owner="b")
    assert take("anchoring", owner="a", ttl=10.0, now=118.0) is True

    owners = [f"worker-{n}" for n in range(4)]
    start = threading.Barrier(len(owners))

    def race(owner: str) -> Any:
        start.wait()
        return outcome(lambda: take("fresh", owner=owner, ttl=10.0, now=200.0))

    with ThreadPoolExecutor(len(owners)) as pool:
        results = list(pool.map(race, owners))
    assert sorted(results, key=str) == [False, False, False, True]
    with anchors.engine.connect() as conn:
        holder = conn.execute(select(t.leases.c.owner).where(t.leases.c.name == "fresh")).scalar_one()
        leases = conn.execute(select(func.count()).select_from(t.leases)).scalar_one()
    assert holder == owners[results.index(True)] and leases == 3
