"""system key scopes

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON {"types": [...], "streams": [...]}; NULL for keys registered before scopes (they may write anything).
    with op.batch_alter_table("system_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("system_keys", schema=None) as batch_op:
        batch_op.drop_column("scope")
