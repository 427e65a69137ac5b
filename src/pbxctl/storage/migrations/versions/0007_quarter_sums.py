"""Reports: the quarter-hour sums the queue report reads (books_queue_quarters,
books_leg_quarters; books/quarter_sums.py keeps them as stints and legs are written),
filled here from the books already there, so an upgraded database reports from them at
once. A migration knows no site: the sums are counted with the default thresholds
(service level 20 s, short abandons under 5 s), and a report asking for others reads the
stints instead, as before.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

SERVICE_LEVEL, SHORT_ABANDON = 20, 5
WAIT_BINS = (10, 20, 30, 60, 120, 300)  # queue_tally.WAIT_BINS when this was written
BINS = [f"wait_bin{i}" for i in range(len(WAIT_BINS) + 1)]


def _key(*columns: sa.Column) -> list[sa.Column]:
    return [sa.Column("quarter", sa.BigInteger(), nullable=False), sa.Column("queue", sa.String(), nullable=False),
            sa.Column("node", sa.String(), nullable=False), *columns]


def upgrade() -> None:
    op.create_table(
        "books_queue_quarters",
        *_key(sa.Column("outcome", sa.String(), nullable=False), sa.Column("exit_to", sa.String(), nullable=False),
              sa.Column("entry", sa.String(), nullable=False), sa.Column("sl_seconds", sa.Integer(), nullable=False),
              sa.Column("short_seconds", sa.Integer(), nullable=False)),
        sa.Column("stints", sa.Integer(), nullable=False),
        sa.Column("in_sl", sa.Integer(), nullable=False),
        sa.Column("short", sa.Integer(), nullable=False),
        sa.Column("wait_sum", sa.BigInteger(), nullable=False),
        sa.Column("wait_max", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in BINS),
        sa.PrimaryKeyConstraint("quarter", "queue", "node", "outcome", "exit_to", "entry", "sl_seconds",
                                "short_seconds"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "books_leg_quarters",
        *_key(),
        sa.Column("legs", sa.Integer(), nullable=False),
        sa.Column("talk_sum", sa.BigInteger(), nullable=False),
        sa.Column("wrapup_sum", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("quarter", "queue", "node"),
        sqlite_with_rowid=False,
    )
    bins = ", ".join(f"SUM(CASE WHEN wait_seconds >= {lo} AND wait_seconds < {hi} THEN 1 ELSE 0 END)"
                     for lo, hi in zip((0, *WAIT_BINS), (*WAIT_BINS, 1 << 40)))
    op.execute(
        f"INSERT INTO books_queue_quarters (quarter, queue, node, outcome, exit_to, entry, sl_seconds, short_seconds, "
        f"stints, in_sl, short, wait_sum, wait_max, {', '.join(BINS)}) "
        f"SELECT entered_at - entered_at % 900, queue, node, outcome, COALESCE(exit_to, ''), COALESCE(entry, ''), "
        f"{SERVICE_LEVEL}, {SHORT_ABANDON}, COUNT(*), "
        f"SUM(CASE WHEN wait_seconds <= {SERVICE_LEVEL} THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN outcome = 'abandoned' AND wait_seconds < {SHORT_ABANDON} THEN 1 ELSE 0 END), "
        f"SUM(wait_seconds), MAX(wait_seconds), {bins} FROM books_queue_stints "
        f"GROUP BY entered_at - entered_at % 900, queue, node, outcome, COALESCE(exit_to, ''), COALESCE(entry, '')"
    )
    op.execute(
        "INSERT INTO books_leg_quarters (quarter, queue, node, legs, talk_sum, wrapup_sum) "
        "SELECT entered_at - entered_at % 900, queue, node, COUNT(*), SUM(talk_seconds), "
        "SUM(COALESCE(wrapup_cut_seconds, 0)) FROM books_agent_legs GROUP BY entered_at - entered_at % 900, queue, node"
    )


def downgrade() -> None:
    op.drop_table("books_leg_quarters")
    op.drop_table("books_queue_quarters")
