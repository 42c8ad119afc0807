"""initial schema: journal, tree nodes, payloads, checkpoints, projections

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('checkpoints',
    sa.Column('tree_size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('tree_size')
    )
    op.create_table('entries',
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('stream', sa.String(length=160), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=128), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.String(length=32), nullable=False),
    sa.Column('leaf', sa.LargeBinary(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('idx'),
    sa.UniqueConstraint('event_id'),
    sa.UniqueConstraint('stream', 'seq', name='uq_entries_stream_seq')
    )
    op.create_table('log_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('payloads',
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('idx')
    )
    with op.batch_alter_table('payloads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payloads_subject'), ['subject'], unique=False)

    op.create_table('streams',
    sa.Column('stream', sa.String(length=160), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_idx', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('stream')
    )
    op.create_table('subject_keys',
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.String(length=32), nullable=False),
    sa.Column('erased_at', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('subject')
    )
    op.create_table('system_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('public_key', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('registered_idx', sa.BigInteger(), nullable=False),
    sa.Column('registered_at', sa.String(length=32), nullable=False),
    sa.Column('ended_idx', sa.BigInteger(), nullable=True),
    sa.Column('ended_at', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_table('tree_nodes',
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('idx', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name='pk_tree_nodes')
    )


def downgrade() -> None:
    op.drop_table('tree_nodes')
    op.drop_table('system_keys')
    op.drop_table('subject_keys')
    op.drop_table('streams')
    with op.batch_alter_table('payloads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payloads_subject'))

    op.drop_table('payloads')
    op.drop_table('log_head')
    op.drop_table('entries')
    op.drop_table('checkpoints')
