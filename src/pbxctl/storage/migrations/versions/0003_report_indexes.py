"""Reports: callback requests found without scanning every pbxctl line (a partial index:
only PBXCTLCALLBACK lines are in it, so ingesting costs what it did).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

CALLBACKS = sa.text("event = 'PBXCTLCALLBACK'")


def upgrade() -> None:
    op.create_index("ix_books_pbxctl_events_callbacks", "books_pbxctl_events", ["at"], unique=False,
                    sqlite_where=CALLBACKS, postgresql_where=CALLBACKS)


def downgrade() -> None:
    op.drop_index("ix_books_pbxctl_events_callbacks", table_name="books_pbxctl_events")
