"""Schema migrations: run the Alembic revisions shipped in ``ledger/store/migrations`` up to head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, select

from ledger.store import schema as t

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The schema revision this code migrates a database to (read from the shipped revisions, no database)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no Alembic revisions in {MIGRATIONS}")
    return head


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision and make sure the log head row exists."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.begin() as conn:
        if conn.execute(select(t.log_head.c.size).where(t.log_head.c.id == 1)).first() is None:
            conn.execute(insert(t.log_head).values(id=1, size=0))
