"""Alembic environment: runs on the connection the ledger hands in (see ledger.store.migrate)."""

from __future__ import annotations

from alembic import context

from ledger.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through ledger.store.migrate.upgrade, which supplies a connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
