"""Runtime settings: one pydantic-settings object, built by a factory and passed in, never read at import."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import ConfigurationError

# One journal writer serves every worker: past a few workers, more would wait on it rather than answer sooner.
WORKERS_DEFAULT_MAX = 4


def default_workers() -> int:
    """One HTTP worker process per CPU this process may use, at most ``WORKERS_DEFAULT_MAX``: the interpreter runs
    one thread of Python at a time per process, so a second core serves requests only in a second process. The
    CPUs are those it may run on, fewer under a container's CPU limit (cgroup quota). Away from Linux, one: the
    workers take their connections over Linux's Unix-socket credentials."""
    if not hasattr(os, "sched_getaffinity"):
        return 1
    cpus = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, int(limit))
    return max(1, min(cpus, WORKERS_DEFAULT_MAX))


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs a container's CPU quota allows (cgroup v2 ``cpu.max``, or v1's CFS quota and period); None when
    there is no quota or no cgroup file to read."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


class Settings(BaseSettings):
    """Everything an operator can configure, from ``LIFELEDGER_*`` environment variables or arguments."""

    model_config = SettingsConfigDict(env_prefix="LIFELEDGER_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".lifeledger"),
        description="Where the SQLite file, the ledger's keys and the embedded chain live.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file in data_dir. PostgreSQL: postgresql+psycopg://...",
        repr=False,
    )
    chain_url: str = Field(
        default="embedded",
        repr=False,
        description="'embedded' for the in-process EVM kept in data_dir, 'none' to disable anchoring, "
        "or an EVM JSON-RPC URL.",
    )
    chain_id: int | None = Field(default=None, description="Expected chain id of a JSON-RPC chain.")
    chain_private_key: str | None = Field(
        default=None, description="Hex private key that signs anchoring transactions on a JSON-RPC chain.", repr=False
    )
    chain_admin: str | None = Field(
        default=None,
        description="Address that administers the contracts' roles (ideally a multisig); default: the sender.",
    )
    origin: str = Field(
        default="lifeledger.local/log",
        description="The log's origin line in every checkpoint (C2SP tlog-checkpoint).",
    )
    checkpoint_interval: float = Field(
        default=1.0, gt=0, description="Seconds between automatic checkpoints while new entries arrive."
    )
    anchor_interval: float = Field(default=10.0, gt=0, description="Seconds between anchoring rounds.")
    anchor_confirmations: int = Field(default=1, ge=0, description="Confirmations before an anchor counts.")
    anchor_stuck_after: float = Field(
        default=120.0, gt=0,
        description="Seconds a sent transaction may stay pending before it is replaced with higher fees.")
    batch_max: int = Field(default=1000, ge=1, le=10000, description="Most entries in one group commit.")
    max_clock_skew: float = Field(default=300.0, ge=0, le=86400,
                                  description="Seconds an event's occurred_at may be ahead of the ledger's clock.")
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024,
                                description="Largest request body the API reads; larger ones get 413.")
    anonymous_body_bytes: int = Field(
        default=64 * 1024, ge=1024,
        description="Largest request body read from a caller without a valid bearer token (413 above it).")
    api_docs: bool = Field(default=False, description="Serve Swagger UI at /docs from the project's own assets "
                                                      "(built by `make setup`); the OpenAPI document is always "
                                                      "at /openapi.json.")
    token_ttl: int = Field(default=3600, gt=0, description="Lifetime in seconds of development tokens.")
    jwt_issuer: str = Field(default="lifeledger", description="Expected 'iss' claim of bearer tokens.")
    products_dir: Path | None = Field(
        default=None, description="Directory of product, questionnaire and underwriting data files; default: the "
                                  "products/ directory of this checkout.")
    time_zone: str = Field(default="Asia/Shanghai", description="Time zone of business dates (due dates, grace, "
                                                                "working days).")
    public_url: str = Field(default="http://127.0.0.1:8000", description="Base URL printed on e-policies (the QR "
                                                                          "code opens its verification page).")
    payment_systems: list[str] = Field(default=["payments"], description="Subjects of the system tokens that may "
                                                                           "confirm payments.")
    messaging_systems: list[str] = Field(default=["messaging"], description="Subjects of the system tokens that "
                                         "deliver customer messages: they read the one-time codes and notices "
                                         "waiting in the outboxes and mark them delivered.")
    claims_handlers: list[str] = Field(default=[], description="Staff ids of the dedicated claims handlers; a major "
                                       "claim goes to the one with the fewest open claims (none: the claim waits in "
                                       "the major queue for a handler to take it).")
    state_cache: int = Field(default=5000, ge=0, le=1_000_000, description="Folded policy and party states kept "
                                                                         "in memory (about 15 KB each; 0: none).")
    render_workers: int = Field(default=1, ge=0, le=16, description="Worker processes that render e-policy PDFs "
                                                                    "(0: render in the serving process).")
    workers: int = Field(default_factory=default_workers, ge=1, le=16, description="HTTP worker processes "
                         "`serve` runs on the same database (the serving process runs the journal writer and, when "
                         "the chain is embedded, the chain for all of them); default: one per CPU this process may "
                         f"use, at most {WORKERS_DEFAULT_MAX}")
    journal_socket: Path | None = Field(
        default=None, description="Set by `serve --workers` for its worker processes: append through the journal "
        "writer of the serving process at this Unix socket instead of a writer of their own (not for manual use).")
    chain_socket: Path | None = Field(
        default=None, description="Set by `serve --workers` for its worker processes when the chain is embedded: "
        "reach it by JSON-RPC at this Unix socket, where the serving process holds it (not for manual use).")
    clock_interval: float = Field(default=300.0, gt=0, description="Seconds between runs of the policy clock "
                                                                   "inside `serve`.")

    @field_validator("origin")
    @classmethod
    def _origin_is_a_key_name(cls, value: str) -> str:
        # The origin doubles as the signed-note key name, so it follows C2SP's key-name rules.
        from ledger.errors import ValidationFailed
        from ledger.log.note import check_key_name

        try:
            return check_key_name(value, field="origin")
        except ValidationFailed as exc:
            raise ValueError(exc.message) from exc

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to ``sqlite:///<data_dir>/ledger.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file the database URL names, or None (an in-memory SQLite or another database)."""
        return sqlite_file(self.resolved_database_url)

    @property
    def database_name(self) -> str:
        """The database for messages: the SQLite file, or the URL without its credentials."""
        return describe_database(self.resolved_database_url)


def sqlite_file(url: str) -> Path | None:
    """The file a ``sqlite://`` URL names (``sqlite:///relative.db``, ``sqlite:////absolute.db``), or None for an
    in-memory database or a URL of another kind."""
    scheme, _, rest = url.partition("://")
    if scheme.split("+")[0] != "sqlite" or not rest.startswith("/"):
        return None
    path = rest[1:].split("?", 1)[0].removeprefix("file:")
    return None if path in ("", ":memory:") else Path(path)


def describe_database(url: str) -> str:
    """A database URL fit for messages and logs: the SQLite file, or the URL with any credentials cut off."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides taking precedence.

    Raises ``ConfigurationError`` naming the first setting (as its ``LIFELEDGER_*`` variable) that is malformed.
    """
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "LIFELEDGER_" + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigurationError(f"{name}: {first['msg']}", field=name) from exc
