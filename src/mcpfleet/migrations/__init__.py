"""Schema migrations of the fleet database (Alembic), shipped in the package.

    from mcpfleet.database import Database

    report = Database.for_fleet(config).upgrade()   # what `mcpfleet db upgrade` and `mcpfleet up` do
    print(report.describe())

Revisions live in ``versions/``, written by hand with explicit ``op.create_table`` & co.; no
``alembic.ini`` is needed (the runner configures Alembic in code, ``env.py`` takes its connection).
To change a table: change its ``Table`` and add a revision that makes the same change;
``tests/migrations/test_runner.py`` fails while the two disagree. See docs/upgrades.md.
"""

from mcpfleet.migrations.runner import (
    LOCK_KEY,
    PREVIOUS_RELEASE_TABLES,
    VERSION_TABLE,
    Revision,
    UpgradeReport,
    current_revision,
    head_revision,
    revisions,
    upgrade,
)

__all__ = [
    "LOCK_KEY",
    "PREVIOUS_RELEASE_TABLES",
    "VERSION_TABLE",
    "Revision",
    "UpgradeReport",
    "current_revision",
    "head_revision",
    "revisions",
    "upgrade",
]
