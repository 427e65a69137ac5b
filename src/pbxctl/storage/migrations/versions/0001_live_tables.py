"""The schema before the books: agents' wanted membership, live queue call outcomes,
callback requests (as `SQLModel.metadata.create_all` made them, without Alembic). A
database from those days already has some or all of them: only the missing ones are made.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "agent_memberships" not in existing:
        _agent_memberships()
    if "queue_calls" not in existing:
        _queue_calls()
    if "callback_requests" not in existing:
        _callback_requests()


def _agent_memberships() -> None:
    op.create_table(
        "agent_memberships",
        sa.Column("agent", sa.String(), primary_key=True),
        sa.Column("queue", sa.String(), primary_key=True),
        sa.Column("logged_in", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
    )


def _queue_calls() -> None:
    op.create_table(
        "queue_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("queue", sa.String(), nullable=False, index=True),
        sa.Column("uniqueid", sa.String(), nullable=False, index=True),
        sa.Column("caller_id", sa.String(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("wait_seconds", sa.Float(), nullable=False),
        sa.Column("agent", sa.String(), nullable=True),
    )


def _callback_requests() -> None:
    op.create_table(
        "callback_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("queue", sa.String(), nullable=False, index=True),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("ivr", sa.String(), nullable=True),
        sa.Column("element", sa.String(), nullable=True),
        sa.Column("entry", sa.String(), nullable=True),
        sa.Column("call_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("callback_requests")
    op.drop_table("queue_calls")
    op.drop_table("agent_memberships")
