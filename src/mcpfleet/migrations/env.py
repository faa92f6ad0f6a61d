"""Alembic's environment for mcpfleet: run by :func:`mcpfleet.migrations.runner.upgrade`, which
passes the connection (already in its transaction) and the version table's name in
``config.attributes``. No ``alembic.ini`` is needed."""

from __future__ import annotations

from alembic import context

_attributes = context.config.attributes
context.configure(
    connection=_attributes["connection"],
    version_table=_attributes["version_table"],
    transaction_per_migration=False,
)
with context.begin_transaction():  # the caller's transaction: every revision commits together
    context.run_migrations()
