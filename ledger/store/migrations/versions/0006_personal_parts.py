"""personal parts of payloads; document operations carry their journal index

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personal_payloads",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
    )
    with op.batch_alter_table("personal_payloads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_personal_payloads_subject"), ["subject"], unique=False)
    # The journal index of the document.* event behind each row (NULL for rows queued before such events).
    with op.batch_alter_table("document_ops", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idx", sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint("uq_document_ops_idx", ["idx"])


def downgrade() -> None:
    with op.batch_alter_table("document_ops", schema=None) as batch_op:
        batch_op.drop_constraint("uq_document_ops_idx", type_="unique")
        batch_op.drop_column("idx")
    with op.batch_alter_table("personal_payloads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_personal_payloads_subject"))
    op.drop_table("personal_payloads")
