"""Tables made before migrations are kept when they have the declared columns (their missing
indexes added), and refused, with the database left as it was, when they do not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from database_helpers import pg_schema, snapshot
from mcpfleet.catalog.mirror import RegistryMirror, servers_table, state_table
from mcpfleet.database import Database, metadata
from mcpfleet.exceptions import DatabaseMigrationError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgresql":
        with pg_schema() as db:
            yield db
        return
    db = Database(f"sqlite:///{tmp_path / 'fleet.db'}")
    yield db
    db.dispose()


def test_tables_a_store_made_before_its_revision_are_kept(database: Database) -> None:
    """A release where the registry mirror made its tables itself (create_all, as it did before it
    went through the migrations): revision 0002 keeps them and their rows."""
    metadata.create_all(database.engine, tables=[servers_table, state_table])
    with database.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_catalog_mirror_updated"))  # one index short: it is added
        conn.execute(
            text(
                "INSERT INTO catalog_mirror_state (id, source, synced_at, full_sync_at, sync_id) "
                "VALUES (1, 'http://127.0.0.1:1/', '2026-01-01T00:00:00.000000Z', "
                "'2026-01-01T00:00:00.000000Z', 7)"
            )
        )
    report = database.upgrade()
    assert sorted(report.adopted) == ["catalog_mirror", "catalog_mirror_state"]
    assert report.applied == ("0001", "0002")
    state = RegistryMirror(database).state()
    assert state is not None and state.sync_id == 7
    indexes = {i["name"] for i in inspect(database.engine).get_indexes("catalog_mirror")}
    assert {"ix_catalog_mirror_latest", "ix_catalog_mirror_updated"} <= indexes


def test_a_table_of_another_shape_stops_the_upgrade(database: Database) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("CREATE TABLE api_keys (id INTEGER PRIMARY KEY, owner VARCHAR(20))"))
        conn.execute(text("INSERT INTO api_keys (id, owner) VALUES (1, 'someone else')"))
    before = snapshot(database)
    with pytest.raises(DatabaseMigrationError) as raised:
        database.upgrade()
    message = str(raised.value)
    assert "the table api_keys is already in the database with the columns id, owner" in message
    assert "Point database_url at a database of its own" in message and "left as it was" in message
    assert snapshot(database) == before and database.schema_revision() is None
