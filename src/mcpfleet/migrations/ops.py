"""What the revisions use beyond ``alembic.op``: creating a table that may already be there.

Before migrations, each store made its own tables on first use (``create_all``). A database from
then holds some of the tables a revision creates; :func:`create_table` keeps such a table when its
columns are the ones the revision declares (its missing indexes are added) and stops the upgrade
when they are not, so nothing is silently kept in another shape.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import MetaData, Table, inspect
from sqlalchemy.schema import SchemaItem

__all__ = ["create_table"]

log = logging.getLogger("mcpfleet.migrations")


def create_table(name: str, *elements: SchemaItem) -> None:
    """``op.create_table(name, *elements)``, or adopt the table ``name`` if it is there already
    with exactly the declared columns."""
    inspector = inspect(op.get_bind())
    if not inspector.has_table(name):
        op.create_table(name, *elements)
        return
    table = Table(name, MetaData(), *elements)  # never created: it names the declared columns and indexes
    wanted = [c.name for c in table.columns]
    have = [c["name"] for c in inspector.get_columns(name)]
    if sorted(wanted) != sorted(have):
        raise RuntimeError(
            f"the table {name} is already in the database with the columns {', '.join(have)}, "
            f"not {', '.join(wanted)}: it is not mcpfleet's. Point database_url at a database of its own, "
            f"or rename that table"
        )
    indexes = {i["name"] for i in inspector.get_indexes(name)}
    for index in table.indexes:
        if index.name not in indexes:
            op.create_index(str(index.name), name, [c.name for c in index.columns], unique=bool(index.unique))
    context = op.get_context()
    if context.config is not None:
        context.config.attributes["adopted"].append(name)
    log.info("kept the table %s, made before migrations", name)
