"""Callback results from the dialplan (no AGI call): the call that holds an in-progress
entry (`take_call`), each attempt's dial and answer times and its natural key (entry and
the callback call's uniqueid: the result told live and read from queue_log is one
attempt), and the PBXCTLCBRESULT lines found without scanning every pbxctl line.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

RESULTS = sa.text("event = 'PBXCTLCBRESULT'")


def upgrade() -> None:
    op.add_column("callback_entries", sa.Column("take_call", sa.String(), nullable=True))
    op.add_column("callback_attempts", sa.Column("started_at", sa.BigInteger(), nullable=True))
    op.add_column("callback_attempts", sa.Column("answered_at", sa.BigInteger(), nullable=True))
    op.create_index("ux_callback_attempts_entry_call", "callback_attempts", ["entry_id", "call_id"], unique=True)
    op.create_index("ix_books_pbxctl_events_cbresults", "books_pbxctl_events", ["at"], unique=False,
                    sqlite_where=RESULTS, postgresql_where=RESULTS)


def downgrade() -> None:
    op.drop_index("ix_books_pbxctl_events_cbresults", table_name="books_pbxctl_events")
    op.drop_index("ux_callback_attempts_entry_call", table_name="callback_attempts")
    with op.batch_alter_table("callback_attempts") as batch:
        batch.drop_column("answered_at")
        batch.drop_column("started_at")
    with op.batch_alter_table("callback_entries") as batch:
        batch.drop_column("take_call")
