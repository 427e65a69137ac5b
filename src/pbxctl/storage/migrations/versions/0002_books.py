"""The books: calls, queue stints, agent rings and legs, transfers, agent events, pbxctl's
own queue_log lines, CDR records, ingest checkpoints and rejected lines.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table('books_agent_events',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('queue', sa.String(), nullable=False),
    sa.Column('member', sa.String(), nullable=False),
    sa.Column('event', sa.String(), nullable=False),
    sa.Column('agent', sa.String(), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'at', 'queue', 'member', 'event')
    )
    op.create_index(op.f('ix_books_agent_events_agent'), 'books_agent_events', ['agent'], unique=False)
    op.create_table('books_agent_legs',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('callid', sa.String(), nullable=False),
    sa.Column('member', sa.String(), nullable=False),
    sa.Column('connected_at', sa.BigInteger(), nullable=False),
    sa.Column('queue', sa.String(), nullable=False),
    sa.Column('entered_at', sa.BigInteger(), nullable=False),
    sa.Column('agent', sa.String(), nullable=False),
    sa.Column('ended_at', sa.BigInteger(), nullable=False),
    sa.Column('talk_seconds', sa.Integer(), nullable=False),
    sa.Column('ended_by', sa.String(), nullable=False),
    sa.Column('wrapup_seconds', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('node', 'callid', 'member', 'connected_at')
    )
    op.create_index(op.f('ix_books_agent_legs_agent'), 'books_agent_legs', ['agent'], unique=False)
    op.create_index(op.f('ix_books_agent_legs_queue'), 'books_agent_legs', ['queue'], unique=False)
    op.create_table('books_agent_rings',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('callid', sa.String(), nullable=False),
    sa.Column('member', sa.String(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('queue', sa.String(), nullable=False),
    sa.Column('entered_at', sa.BigInteger(), nullable=False),
    sa.Column('agent', sa.String(), nullable=False),
    sa.Column('ring_seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'callid', 'member', 'at', 'outcome')
    )
    op.create_index(op.f('ix_books_agent_rings_agent'), 'books_agent_rings', ['agent'], unique=False)
    op.create_index(op.f('ix_books_agent_rings_queue'), 'books_agent_rings', ['queue'], unique=False)
    op.create_table('books_calls',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('callid', sa.String(), nullable=False),
    sa.Column('linkedid', sa.String(), nullable=True),
    sa.Column('started_at', sa.BigInteger(), nullable=False),
    sa.Column('ended_at', sa.BigInteger(), nullable=False),
    sa.Column('caller_number', sa.String(), nullable=False),
    sa.Column('caller_name', sa.String(), nullable=False),
    sa.Column('entry', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('node', 'callid')
    )
    op.create_index(op.f('ix_books_calls_linkedid'), 'books_calls', ['linkedid'], unique=False)
    op.create_index(op.f('ix_books_calls_started_at'), 'books_calls', ['started_at'], unique=False)
    op.create_table('books_cdr',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('uniqueid', sa.String(), nullable=False),
    sa.Column('record_key', sa.String(), nullable=False),
    sa.Column('linkedid', sa.String(), nullable=True),
    sa.Column('start_at', sa.BigInteger(), nullable=False),
    sa.Column('answer_at', sa.BigInteger(), nullable=True),
    sa.Column('end_at', sa.BigInteger(), nullable=False),
    sa.Column('duration', sa.Integer(), nullable=False),
    sa.Column('billsec', sa.Integer(), nullable=False),
    sa.Column('disposition', sa.String(), nullable=False),
    sa.Column('src', sa.String(), nullable=False),
    sa.Column('dst', sa.String(), nullable=False),
    sa.Column('dcontext', sa.String(), nullable=False),
    sa.Column('clid', sa.String(), nullable=False),
    sa.Column('channel', sa.String(), nullable=False),
    sa.Column('dstchannel', sa.String(), nullable=False),
    sa.Column('lastapp', sa.String(), nullable=False),
    sa.Column('lastdata', sa.String(), nullable=False),
    sa.Column('accountcode', sa.String(), nullable=False),
    sa.Column('userfield', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'uniqueid', 'record_key')
    )
    op.create_index(op.f('ix_books_cdr_linkedid'), 'books_cdr', ['linkedid'], unique=False)
    op.create_index(op.f('ix_books_cdr_start_at'), 'books_cdr', ['start_at'], unique=False)
    op.create_table('books_checkpoints',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('path', sa.String(), nullable=False),
    sa.Column('inode', sa.BigInteger(), nullable=False),
    sa.Column('read_offset', sa.BigInteger(), nullable=False),
    sa.Column('read_line_no', sa.Integer(), nullable=False),
    sa.Column('replay_offset', sa.BigInteger(), nullable=False),
    sa.Column('replay_line_no', sa.Integer(), nullable=False),
    sa.Column('head', sa.String(), nullable=False),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'source')
    )
    op.create_table('books_pbxctl_events',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('callid', sa.String(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('event', sa.String(), nullable=False),
    sa.Column('data', sa.String(), nullable=False),
    sa.Column('queue', sa.String(), nullable=False),
    sa.Column('agent', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'callid', 'at', 'event', 'data')
    )
    op.create_table('books_queue_stints',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('callid', sa.String(), nullable=False),
    sa.Column('queue', sa.String(), nullable=False),
    sa.Column('entered_at', sa.BigInteger(), nullable=False),
    sa.Column('ended_at', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(), nullable=False),
    sa.Column('ended_by', sa.String(), nullable=True),
    sa.Column('wait_seconds', sa.Integer(), nullable=False),
    sa.Column('answered_at', sa.BigInteger(), nullable=True),
    sa.Column('agent', sa.String(), nullable=True),
    sa.Column('member', sa.String(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('exit_position', sa.Integer(), nullable=True),
    sa.Column('exit_key', sa.String(), nullable=True),
    sa.Column('exit_status', sa.String(), nullable=True),
    sa.Column('exit_to', sa.String(), nullable=True),
    sa.Column('caller_number', sa.String(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'callid', 'queue', 'entered_at')
    )
    op.create_index(op.f('ix_books_queue_stints_agent'), 'books_queue_stints', ['agent'], unique=False)
    op.create_index(op.f('ix_books_queue_stints_ended_at'), 'books_queue_stints', ['ended_at'], unique=False)
    op.create_index(op.f('ix_books_queue_stints_outcome'), 'books_queue_stints', ['outcome'], unique=False)
    op.create_table('books_rejects',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('file', sa.String(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('node', 'source', 'file', 'line_no', 'digest')
    )
    op.create_table('books_transfers',
    sa.Column('node', sa.String(), nullable=False),
    sa.Column('callid', sa.String(), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(), nullable=False),
    sa.Column('queue', sa.String(), nullable=False),
    sa.Column('agent', sa.String(), nullable=False),
    sa.Column('member', sa.String(), nullable=False),
    sa.Column('target', sa.String(), nullable=False),
    sa.Column('wait_seconds', sa.Integer(), nullable=False),
    sa.Column('talk_seconds', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('node', 'callid', 'at', 'kind')
    )


def downgrade() -> None:
    op.drop_table('books_transfers')
    op.drop_table('books_rejects')
    op.drop_index(op.f('ix_books_queue_stints_outcome'), table_name='books_queue_stints')
    op.drop_index(op.f('ix_books_queue_stints_ended_at'), table_name='books_queue_stints')
    op.drop_index(op.f('ix_books_queue_stints_agent'), table_name='books_queue_stints')
    op.drop_table('books_queue_stints')
    op.drop_table('books_pbxctl_events')
    op.drop_table('books_checkpoints')
    op.drop_index(op.f('ix_books_cdr_start_at'), table_name='books_cdr')
    op.drop_index(op.f('ix_books_cdr_linkedid'), table_name='books_cdr')
    op.drop_table('books_cdr')
    op.drop_index(op.f('ix_books_calls_started_at'), table_name='books_calls')
    op.drop_index(op.f('ix_books_calls_linkedid'), table_name='books_calls')
    op.drop_table('books_calls')
    op.drop_index(op.f('ix_books_agent_rings_queue'), table_name='books_agent_rings')
    op.drop_index(op.f('ix_books_agent_rings_agent'), table_name='books_agent_rings')
    op.drop_table('books_agent_rings')
    op.drop_index(op.f('ix_books_agent_legs_queue'), table_name='books_agent_legs')
    op.drop_index(op.f('ix_books_agent_legs_agent'), table_name='books_agent_legs')
    op.drop_table('books_agent_legs')
    op.drop_index(op.f('ix_books_agent_events_agent'), table_name='books_agent_events')
    op.drop_table('books_agent_events')
