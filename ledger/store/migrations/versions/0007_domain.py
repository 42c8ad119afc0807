"""the domain's own tables: policy notices outbox, uploads and their owners, the party index, idempotent answers

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("policy_no", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("due_date", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("text_zh", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.Column("delivered_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idx", name="uq_policy_notices_idx"),
    )
    op.create_table(
        "uploads",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_uploads_subject"), ["subject"], unique=False)
    op.create_table(
        "upload_owners",
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("digest", "subject", name="pk_upload_owners"),
    )
    with op.batch_alter_table("upload_owners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upload_owners_subject"), ["subject"], unique=False)
    op.create_table(
        "party_index",
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("party_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    with op.batch_alter_table("party_index", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_party_index_party_id"), ["party_id"], unique=False)
    op.create_table(
        "idempotency",
        sa.Column("principal", sa.String(length=160), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency"),
    )


def downgrade() -> None:
    op.drop_table("idempotency")
    with op.batch_alter_table("party_index", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_party_index_party_id"))
    op.drop_table("party_index")
    with op.batch_alter_table("upload_owners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_owners_subject"))
    op.drop_table("upload_owners")
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploads_subject"))
    op.drop_table("uploads")
    op.drop_table("policy_notices")
