"""Alembic environment: pbxctl runs migrations itself (`storage.migrate.upgrade`), on a
connection it passes in; there is no alembic.ini."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
