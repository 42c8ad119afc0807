"""anchoring outbox

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('anchor_jobs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('contract', sa.String(length=42), nullable=False),
    sa.Column('tree_size', sa.BigInteger(), nullable=True),
    sa.Column('root', sa.LargeBinary(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('tx_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('block_number', sa.BigInteger(), nullable=True),
    sa.Column('block_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('confirmations', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.Float(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('sent_at', sa.String(length=32), nullable=True),
    sa.Column('confirmed_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('anchor_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_anchor_jobs_kind_status', ['kind', 'status'], unique=False)

    op.create_table('chain_deployments',
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('contract', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=42), nullable=False),
    sa.Column('deployed_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'contract', name='pk_chain_deployments')
    )
    op.create_table('document_ops',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('op', sa.String(length=16), nullable=False),
    sa.Column('digest', sa.LargeBinary(length=32), nullable=False),
    sa.Column('subject', sa.LargeBinary(length=32), nullable=True),
    sa.Column('kind', sa.Integer(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=True),
    sa.Column('old_digest', sa.LargeBinary(length=32), nullable=True),
    sa.Column('reason_code', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('document_ops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_ops_job_id'), ['job_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('document_ops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_ops_job_id'))

    op.drop_table('document_ops')
    op.drop_table('chain_deployments')
    with op.batch_alter_table('anchor_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_anchor_jobs_kind_status')

    op.drop_table('anchor_jobs')
