"""Reports: what the queue report joined or computed is stored at ingest time. Each stint
gets its call's entry number (no join to books_calls), each agent leg its wrap-up already
cut short by the agent's next call (no LEAD() over every leg), with an index on the
agent's legs in time order for the ingestor to find a leg's neighbours. Existing rows are
filled here, so an upgrade keeps the numbers.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

# The agent's next call after this leg (same node and agent, the next connect time).
_NEXT = (
    "(SELECT MIN(n.connected_at) FROM books_agent_legs n WHERE n.node = books_agent_legs.node "
    "AND n.agent = books_agent_legs.agent AND n.connected_at > books_agent_legs.connected_at)"
)


def upgrade() -> None:
    op.add_column("books_queue_stints", sa.Column("entry", sa.String(), nullable=True))
    op.execute(
        "UPDATE books_queue_stints SET entry = (SELECT c.entry FROM books_calls c "
        "WHERE c.node = books_queue_stints.node AND c.callid = books_queue_stints.callid)"
    )
    op.add_column("books_agent_legs", sa.Column("wrapup_cut_seconds", sa.Integer(), nullable=True))
    op.create_index("ix_books_agent_legs_agent_connected", "books_agent_legs", ["node", "agent", "connected_at"],
                    unique=False)
    op.execute(
        f"UPDATE books_agent_legs SET wrapup_cut_seconds = CASE "
        f"WHEN {_NEXT} IS NOT NULL AND {_NEXT} - ended_at < wrapup_seconds "
        f"THEN CASE WHEN {_NEXT} > ended_at THEN {_NEXT} - ended_at ELSE 0 END "
        f"ELSE wrapup_seconds END WHERE wrapup_seconds IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_books_agent_legs_agent_connected", table_name="books_agent_legs")
    op.drop_column("books_agent_legs", "wrapup_cut_seconds")
    op.drop_column("books_queue_stints", "entry")
