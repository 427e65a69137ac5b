"""The callback list: entries (one per queue and pending number), their attempts, the calls
of the books each entry belongs to, and how far the list has been fed from each node's
books. New tables only.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "callback_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("number", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("first_call_at", sa.BigInteger(), nullable=False),
        sa.Column("last_call_at", sa.BigInteger(), nullable=False),
        sa.Column("times_called", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(), nullable=True),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.Column("close_reason", sa.String(), nullable=True),
        sa.Column("closed_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("queue", "number", "status"):
        op.create_index(f"ix_callback_entries_{column}", "callback_entries", [column], unique=False)
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(), nullable=False),
        sa.Column("agent", sa.String(), nullable=True),
        sa.Column("call_id", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["callback_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_callback_attempts_entry_id", "callback_attempts", ["entry_id"], unique=False)
    op.create_table(
        "callback_calls",
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("callid", sa.String(), nullable=False),
        sa.Column("queue", sa.String(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["callback_entries.id"]),
        sa.PrimaryKeyConstraint("node", "callid", "queue", "at", "kind"),
    )
    op.create_index("ix_callback_calls_entry_id", "callback_calls", ["entry_id"], unique=False)
    op.create_table(
        "callback_feed",
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("node", "source"),
    )


def downgrade() -> None:
    op.drop_table("callback_feed")
    op.drop_index("ix_callback_calls_entry_id", table_name="callback_calls")
    op.drop_table("callback_calls")
    op.drop_index("ix_callback_attempts_entry_id", table_name="callback_attempts")
    op.drop_table("callback_attempts")
    for column in ("queue", "number", "status"):
        op.drop_index(f"ix_callback_entries_{column}", table_name="callback_entries")
    op.drop_table("callback_entries")
