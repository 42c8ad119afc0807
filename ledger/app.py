"""The composition root: ``Ledger.open`` builds the store, writer, checkpointer and services; no business methods.

The edges (HTTP routes, CLI) reach the ledger only through its services:

- ``log``: entries, checkpoints, proofs, receipts (``ledger.services.log``);
- ``intake``: appending events, the systems' and the ledger's own (``ledger.services.intake``);
- ``keys``: system keys and their scopes (``ledger.services.keys``);
- ``anchoring``: what is anchored where, and anchor proofs (``ledger.services.anchoring``);
- ``documents``: document digests registered, superseded, revoked (``ledger.services.documents``);
- ``subjects``: opening payloads and erasing data subjects (``ledger.services.subjects``);
- ``audit``: the whole-log audit (``ledger.services.audit``);
- ``trails``: an auditor's trails, evidence bundles and grants (``ledger.verify.trail``);
- ``tokens``: the key and issuer bearer tokens are checked against (``ledger.services.tokens``).

Adding a projection is its module plus one line in ``PROJECTORS``; adding event types, one line in ``EVENT_TYPES``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ledger.claims import events as claim_events
from ledger.claims.diagnoses import DiagnosisTable, default_diagnoses_path
from ledger.claims.fraud import FraudRules, default_fraud_path
from ledger.claims.projection import ClaimsProjector
from ledger.claims.rules import default_rules_path, load_rules
from ledger.claims.service import ClaimsService
from ledger.clock import BusinessCalendar, Clock, Periodic, SystemClock
from ledger.crypto.keys import LocalKeys, SigningKey
from ledger.documents.pool import RenderPool
from ledger.errors import ConfigurationError, NotFound
from ledger.journal.checkpoints import Checkpointer
from ledger.journal.opening import Opener
from ledger.journal.rebuild import rebuild
from ledger.journal.remote import RemoteJournal
from ledger.journal.server import JournalServer
from ledger.journal.writer import Journal
from ledger.log.catalog import Catalog, EventType
from ledger.log.note import NoteSigner
from ledger.log.reserved import LEDGER_EVENT_TYPES
from ledger.parties import events as party_events
from ledger.parties.service import PartyService
from ledger.policies import events as policy_events
from ledger.policies.projection import PoliciesProjector
from ledger.policies.service import PolicyService, load_rule_data
from ledger.products import events as product_events
from ledger.products.catalog import ProductCatalog, default_products_dir
from ledger.products.projection import ProductsProjector
from ledger.projections import documents
from ledger.projections.base import Projector
from ledger.projections.registry import Registry, core_projectors
from ledger.services.anchoring import AnchorService
from ledger.services.audit import AuditService
from ledger.services.codes import OneTimeCodes
from ledger.services.documents import DocumentService
from ledger.services.idempotency import IdempotencyService
from ledger.services.intake import IntakeService
from ledger.services.keys import KeyService
from ledger.services.log import LogService
from ledger.services.notices import NoticeService
from ledger.services.party_index import PartyIndex
from ledger.services.products import ProductService
from ledger.services.readmodels import ReadModels
from ledger.services.subjects import SubjectService
from ledger.services.tokens import TokenVerifier
from ledger.services.uploads import UploadService
from ledger.servicing import events as servicing_events
from ledger.servicing.catalog import default_catalog_path, load_catalog
from ledger.servicing.correlation import default_correlation_path, load_correlation
from ledger.servicing.projection import ServicingProjector
from ledger.servicing.service import ServicingService
from ledger.settings import Settings, describe_database
from ledger.store import Store
from ledger.store.anchors import AnchorStore
from ledger.store.codes import CodeStore
from ledger.store.domain import DomainStore
from ledger.store.migrate import head_revision
from ledger.verify import grants as audit_access
from ledger.verify.bundle import BundleBuilder
from ledger.verify.trail import TrailService
from ledger.workflow import Workflow

if TYPE_CHECKING:
    from ledger.anchoring.worker import Anchorer

log = logging.getLogger(__name__)


# Every projection the writer folds and the audit replays: the log's own, then one per resource.
PROJECTORS: list[Projector] = [*core_projectors(), ProductsProjector(), PoliciesProjector(), ServicingProjector(),
                               ClaimsProjector()]
EVENT_TYPES: list[EventType] = [*LEDGER_EVENT_TYPES, *documents.TYPES, *product_events.TYPES, *party_events.TYPES,
                                *policy_events.TYPES, *servicing_events.TYPES, *claim_events.TYPES,
                                *audit_access.TYPES]


class Ledger:
    """The service core. Create with ``Ledger.open(settings)``; call ``close()`` when done."""

    def __init__(self, settings: Settings, store: Store, secrets: LocalKeys, *, registry: Registry,
                 catalog: Catalog, clock: Clock | None = None) -> None:
        self.settings = settings
        self.store = store
        self.secrets = secrets
        self.registry = registry
        self.clock = clock or SystemClock()
        signer = NoteSigner(settings.origin, secrets.ledger.private_key)
        opener = Opener(store, secrets.master_key)
        writer: Callable[..., Journal] = Journal if settings.journal_socket is None \
            else functools.partial(RemoteJournal, address=settings.journal_socket)  # serve --workers: one writer
        self.journal = writer(store, master_key=secrets.master_key, ledger_public_key=secrets.ledger.public_key,
                              registry=registry, catalog=catalog, batch_max=settings.batch_max,
                              clock=self.clock, max_skew=settings.max_clock_skew)
        self.checkpointer = Checkpointer(store, signer=signer, origin=settings.origin,
                                         interval=settings.checkpoint_interval)
        anchorer: Anchorer | None = None
        if settings.chain_url != "none":
            from ledger.anchoring.worker import Anchorer  # the only path into web3

            anchorer = Anchorer(store, settings=settings)
        self.log = LogService(store, checkpointer=self.checkpointer, signer=signer, opener=opener,
                              origin=settings.origin)
        self.intake = IntakeService(self.journal, signer=secrets.ledger, clock=self.clock, catalog=catalog)
        self.keys = KeyService(store.rows, self.intake)
        self.anchoring = AnchorService(AnchorStore(store.engine), log=self.log, anchorer=anchorer,
                                       chain_url=settings.chain_url)
        domain = DomainStore(store.engine, write_lock=store.write_lock, readers=store.readers)
        self.documents = DocumentService(store.rows, self.intake, domain)
        self.uploads = UploadService(  # an erased subject's key row holds no key (None); an unknown one has no row
            domain, clock=self.clock, erased=lambda subject: store.wrapped_keys([subject]).get(subject, b"") is None)
        self.idempotency = IdempotencyService(
            domain, clock=self.clock, key=hmac.new(secrets.master_key, b"lifeledger idempotency v1", "sha256").digest())
        index = PartyIndex(domain, master_key=secrets.master_key)
        self.subjects = SubjectService(store, intake=self.intake, opener=opener, uploads=self.uploads, parties=index)
        self.workflow = Workflow(intake=self.intake, opener=opener, clock=self.clock, cache_size=settings.state_cache)
        self.parties = PartyService(self.workflow, self.subjects, index)
        self.calendar = BusinessCalendar(time_zone=settings.time_zone)
        products_dir = settings.products_dir or default_products_dir()
        questionnaires, rulesets = load_rule_data(products_dir)
        self.renderer = RenderPool(workers=settings.render_workers)
        read = ReadModels(store.rows)
        self.products = ProductService(ProductCatalog.load(products_dir), intake=self.intake, read=read)
        self.policies = PolicyService(
            workflow=self.workflow, parties=self.parties, catalog=self.products.catalog,
            published=self.products.ensure_published,
            questionnaires=questionnaires, rulesets=rulesets, uploads=self.uploads, documents=self.documents,
            read=read, calendar=self.calendar, clock=self.clock, public_url=settings.public_url,
            verifier_key_id=signer.vkey.split("+")[1],
            opener=self.subjects.open_personal, render=self.renderer.render)
        self.products.restore(self.workflow.history)
        servicing_catalog = load_catalog(default_catalog_path(products_dir))
        self.servicing = ServicingService(servicing_catalog)
        self.journal.listen(self.servicing.committed)  # live progress hears of every worker's changes
        self.journal.listen(self.products.committed)  # and the catalog of versions other workers publish
        self.codes = OneTimeCodes(CodeStore(store.engine, write_lock=store.write_lock), clock=self.clock,
                                  key=hmac.new(secrets.master_key, b"lifeledger one-time codes v1", "sha256").digest())
        self.servicing.attach(
            workflow=self.workflow, policies=self.policies, parties=self.parties, codes=self.codes,
            uploads=self.uploads, read=read, clock=self.clock, calendar=self.calendar,
            correlation=load_correlation(default_correlation_path(products_dir),
                                         operations=[op.code for op in servicing_catalog.operations()]),
            opener=self.subjects.open_personal)
        self.claims = ClaimsService(
            workflow=self.workflow, policies=self.policies, uploads=self.uploads, read=read, intake=self.intake,
            rules=load_rules(default_rules_path(products_dir)),
            fraud=FraudRules.load(default_fraud_path(products_dir)),
            diagnoses=DiagnosisTable.load(default_diagnoses_path(products_dir)), clock=self.clock,
            calendar=self.calendar, opener=self.subjects.open_personal,
            account_key=hmac.new(secrets.master_key, b"lifeledger claim accounts v1", "sha256").digest(),
            handlers=settings.claims_handlers)
        self.notices = NoticeService(domain, clock=self.clock)
        self._policy_clock = Periodic("policy-clock", settings.clock_interval, self._run_policy_clock)
        self._clock_lock = ProcessLock(settings.data_dir / "clock.lock")
        self.tokens = TokenVerifier(public_key=secrets.token_public_key, issuer=settings.jwt_issuer)
        self.audit = AuditService(store, registry=registry, vkey=signer.vkey,
                                  ledger_public_key=secrets.ledger.public_key, origin=settings.origin,
                                  master_key=secrets.master_key, anchoring=self.anchoring)
        self.trails = TrailService(
            workflow=self.workflow, opener=opener, log=self.log, documents=self.documents, keys=self.keys, read=read,
            contracts=self.policies, today=self.policies.today,
            builder=BundleBuilder(log=self.log, anchoring=self.anchoring, documents=self.documents, opener=opener,
                                  keys=self.keys, clock=self.clock))

    def _run_policy_clock(self) -> None:
        """One round of the policy clock in ``serve``: every transition due up to today (each happens once).

        Several worker processes serving one data dir take turns: the round runs in the one process holding the
        data dir's clock lock (another takes it over when that process ends); every transition happens once in
        any case, so the lock only saves the others the work."""
        if not self._clock_lock.held():
            return
        counts = self.policies.run_clock(until=self.policies.today())
        if counts:
            log.info("policy clock: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))
        self.codes.sweep()  # plain codes of expired, undelivered messages leave the outbox
        done = self.servicing.run_clock()
        if done:
            log.info("servicing clock: %s", ", ".join(f"{n} {kind}" for kind, n in sorted(done.items())))

    @classmethod
    def open(cls, settings: Settings, *, create: bool = True, projectors: list[Projector] | None = None,
             event_types: list[EventType] | None = None, clock: Clock | None = None) -> Ledger:
        """Open the data dir, keys and database at the newest schema; with ``create``, make whichever is missing.

        Without ``create`` (for tools that only read, or change a ledger that must be there) nothing is made and
        the schema is not migrated: raises ``NotFound`` naming the data dir, keys directory or database that is
        missing (or holds no lifeledger schema), and ``ConfigurationError`` for a database at another schema
        revision or never opened by a ledger. Either way, ``ConfigurationError`` names a data dir that cannot be
        read or made, or a database that belongs to a ledger with other keys or another origin (say, a second
        host that was not given the first host's ``keys`` directory). ``projectors`` and ``event_types`` default
        to ``PROJECTORS`` and ``EVENT_TYPES`` (tests and tools add their own). Projection tables that are missing
        or changed shape are rebuilt from the journal first, with or without ``create`` (they are derived data).
        Logs a warning naming the active system keys that have no scope (``KeyService.unscoped``), unless this is
        a worker of ``serve --workers`` (``journal_socket`` set), whose serving process has logged it.
        """
        secrets = _local_keys(settings, create=create)
        registry = Registry(projectors if projectors is not None else PROJECTORS)
        url = settings.resolved_database_url
        if not create:
            _check_existing(settings, secrets)  # on a read-only connection: a file that is no ledger stays as it is
        store = Store.open(url, specs=registry.specs.values()) if create else Store(url, specs=registry.specs.values())
        try:
            if create:
                _claim_identity(store, secrets, settings)
            stale = store.rows.stale()
            if stale:
                log.info("rebuilding projection tables %s from the journal", ", ".join(stale))
                rebuild(store, registry, stale, Opener(store, secrets.master_key))
        except BaseException:
            store.close()
            raise
        catalog = Catalog(event_types if event_types is not None else EVENT_TYPES)
        ledger = cls(settings, store, secrets, registry=registry, catalog=catalog, clock=clock)
        try:
            if settings.journal_socket is None:  # a `serve --workers` worker: the serving process warned already
                _warn_unscoped(ledger.keys)
        except BaseException:
            ledger.close()
            raise
        return ledger

    def start(self, *, anchoring: bool = True, policy_clock: bool = True) -> None:
        """Start the background writer, the periodic checkpointer, the policy clock and (if configured) the
        anchoring worker."""
        self.journal.start()
        self.checkpointer.start()
        if policy_clock:
            self._policy_clock.start()
        if anchoring and self.anchoring.anchorer is not None:
            self.anchoring.anchorer.start()

    @contextlib.contextmanager
    def writer_for_workers(self, address: Path) -> Iterator[Path]:
        """Write for worker processes (``serve --workers``): start this ledger's journal writer and accept their
        appends on the Unix socket ``address`` (in a directory only this user can enter) until the block ends.
        The workers open the ledger with ``journal_socket`` set to the address the block yields."""
        server = JournalServer(self.journal, address=address)
        self.journal.start()
        server.start()
        try:
            yield server.address
        finally:
            server.stop()

    @contextlib.contextmanager
    def chain_for_workers(self, address: Path) -> Iterator[Path | None]:
        """Hold the embedded chain for worker processes (``serve --workers``) and answer JSON-RPC for it on the Unix
        socket ``address`` (in a directory only this user can enter) until the block ends. Yields the address, or
        ``None`` when the chain is not the embedded one (the workers reach it themselves, or anchoring is off).
        The workers open the ledger with ``chain_socket`` set to the address. Raises ``AnchorUnavailable`` if
        another process holds the embedded chain."""
        settings = self.settings
        if settings.chain_url != "embedded":
            yield None
            return
        from ledger.anchoring.sharing import share_embedded  # the only path into web3

        with share_embedded(data_dir=settings.data_dir, private_key=settings.chain_private_key,
                            expected_chain_id=settings.chain_id, address=address) as shared:
            yield shared

    def close(self) -> None:
        self._policy_clock.stop()
        self._clock_lock.release()
        self.renderer.close()
        if self.anchoring.anchorer is not None:
            self.anchoring.anchorer.close()
        self.checkpointer.stop()
        self.journal.stop()
        self.store.close()


class ProcessLock:
    """An exclusive lock on a file, held by one process at a time (``fcntl.flock``): tried without waiting,
    kept once taken, released when the process closes it or ends."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[bytes] | None = None

    def held(self) -> bool:
        """True if this process holds the lock (taking it now if it is free)."""
        if self._file is not None:
            return True
        try:
            file = self._path.open("ab")
        except OSError:
            return True  # no lock file can be made (a read-only data dir): behave as the only process
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.close()
            return False
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor releases the lock
            self._file = None


def token_key(settings: Settings) -> SigningKey:
    """The key that signs bearer tokens, read from an existing data dir without opening the ledger or making
    anything (development tokens, the demo load). Raises ``NotFound`` naming the keys directory if it has none
    (``LocalKeys.load``)."""
    return LocalKeys.load(settings.data_dir).token


def _local_keys(settings: Settings, *, create: bool) -> LocalKeys:
    """The keys of ``settings.data_dir``: made where missing with ``create``; otherwise the data dir, its keys and
    (for SQLite) its database file must exist, and nothing is made."""
    data_dir = settings.data_dir
    if create:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "it is not a directory" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
            raise ConfigurationError(f"cannot make the data directory {data_dir.resolve()}: {reason}") from exc
        return LocalKeys.load_or_create(data_dir)
    try:
        found = data_dir.is_dir()
        there = found or data_dir.exists()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the data directory {data_dir.resolve()}: "
                                 f"{exc.strerror or exc}") from exc
    if not found:
        raise NotFound(f"no ledger data directory at {data_dir.resolve()} "
                       f"({'it is not a directory' if there else 'it does not exist'})")
    secrets = LocalKeys.load(data_dir)
    database = settings.sqlite_path
    if database is not None and not database.is_file():
        raise NotFound(f"no ledger database at {database.resolve()}")
    return secrets


def _warn_unscoped(keys: KeyService) -> None:
    """Log one warning naming the active keys registered before keys had scopes (they may write anything)."""
    unscoped = [key.key_id for key in keys.unscoped()]
    if unscoped:
        log.warning("system key(s) %s have no scope (registered before key scopes) and may write any event on any "
                    "stream; give each one with `lifeledger keys scope KEY_ID --type TYPE --stream KIND`",
                    ", ".join(unscoped))


def _check_existing(settings: Settings, secrets: LocalKeys) -> None:
    """What ``_claim_identity`` checks, for a database that must already be a ledger's at this schema revision,
    read on a read-only connection: nothing is written to it."""
    url = settings.resolved_database_url
    name = describe_database(url)
    store = Store(url, read_only=True)
    try:
        found = store.revision()
        stored = store.meta("checkpoint_vkey") if found is not None else None
        sealed_with = store.meta("master_key_check") if found is not None else None
    finally:
        store.close()
    current = head_revision()
    if found is None:
        raise NotFound(f"no lifeledger database at {name} (it holds no lifeledger schema)")
    if found != current:
        raise ConfigurationError(f"{name} is at schema revision {found} and this lifeledger at {current}: start the "
                                 f"service once (`lifeledger serve`) to migrate it")
    vkey = NoteSigner(settings.origin, secrets.ledger.private_key).vkey
    if stored is None:
        raise ConfigurationError(f"{name} was never opened by a ledger: start the service once (`lifeledger serve`)")
    if stored != vkey:
        raise ConfigurationError(
            f"this database belongs to the ledger with checkpoint key {stored}, but {settings.data_dir / 'keys'} "
            f"and origin {settings.origin!r} make {vkey}: give every host the same keys directory and origin")
    check = hmac.new(secrets.master_key, b"lifeledger payload master key", hashlib.sha256).hexdigest()
    if sealed_with not in (None, check):
        raise ConfigurationError(f"the payload master key in {settings.data_dir / 'keys'} is not the one this "
                                 f"database's payloads are sealed with: give every host the same keys directory")


def _claim_identity(store: Store, secrets: LocalKeys, settings: Settings) -> None:
    """Bind the database to this ledger's checkpoint key and payload master key on first use; check after."""
    vkey = NoteSigner(settings.origin, secrets.ledger.private_key).vkey
    stored = store.claim_meta("checkpoint_vkey", vkey)
    if stored != vkey:
        raise ConfigurationError(
            f"this database belongs to the ledger with checkpoint key {stored}, but {settings.data_dir / 'keys'} "
            f"and origin {settings.origin!r} make {vkey}: give every host the same keys directory and origin")
    check = hmac.new(secrets.master_key, b"lifeledger payload master key", hashlib.sha256).hexdigest()
    if store.claim_meta("master_key_check", check) != check:
        raise ConfigurationError(f"the payload master key in {settings.data_dir / 'keys'} is not the one this "
                                 f"database's payloads are sealed with: give every host the same keys directory")
