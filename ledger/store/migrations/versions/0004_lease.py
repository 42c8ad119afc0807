"""worker lease and anchor job index

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('anchor_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_anchor_jobs_lineage', ['kind', 'chain_id', 'contract', 'status', 'tree_size'],
                              unique=False)



def downgrade() -> None:
    with op.batch_alter_table('anchor_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_anchor_jobs_lineage')

    op.drop_table('leases')
