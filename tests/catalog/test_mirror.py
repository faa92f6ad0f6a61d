"""The registry mirror, filled from a registry stand-in on loopback with 2,000 servers: search and
install answer from it with the registry gone (which source answered is said), in SQLite and in
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from catalog_helpers import RegistryStandIn, fleet_config, run_registry
from mcpfleet.catalog import Catalog, RegistryClient
from mcpfleet.catalog.mirror import RegistryMirror
from mcpfleet.catalog.sync import sync_mirror
from mcpfleet.database import Database
from mcpfleet.exceptions import UnknownServerError
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(120)
COUNT = 2000


@pytest.fixture
def standin() -> RegistryStandIn:
    return RegistryStandIn.generated(COUNT)


async def test_search_and_resolve_answer_from_the_mirror_with_the_registry_gone(
    tmp_path: Path, standin: RegistryStandIn
) -> None:
    with run_registry(standin) as url:
        config = fleet_config(tmp_path, url)
        await sync_mirror(RegistryMirror.for_fleet(config), RegistryClient(url))
    catalog = Catalog.for_fleet(config)  # the stand-in is stopped: nothing listens at url any more
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(url)
    found = await catalog.search("kubernetes gateway", limit=5)
    assert found and all(e.source == "mirror" for e in found)
    assert all("kubernetes" in e.server.name and "gateway" in e.server.name for e in found)
    assert "registry mirror" in catalog.last_source and catalog.last_registry_error is None
    exact = await catalog.search("weather-helper-1530")
    assert (
        exact[0].aliases == ("io.github.owner75/weather-helper-1530",)
        and exact[0].name == "weather-helper-1530"
    )
    entry = await catalog.resolve("io.github.owner0/weather-tools-0")
    assert entry.source == "mirror" and entry.required_env() == ["WEATHER_TOKEN"]
    assert entry.to_server_spec().package.name == "@owner0/weather-tools-0"  # type: ignore[union-attr]
    with pytest.raises(UnknownServerError, match="registry mirror"):
        await catalog.resolve("io.github.nobody/nothing")
    builtin = await catalog.search("time")
    assert builtin[0].source == "builtin"  # built-in entries still come first


@pytest.mark.npm
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_install_from_the_mirror_with_the_registry_gone(tmp_path: Path) -> None:
    standin = RegistryStandIn.generated(50)
    package = {"registryType": "npm", "identifier": "@modelcontextprotocol/server-memory",
               "version": "2026.8.31", "transport": {"type": "stdio"}}  # fmt: skip
    name = "io.github.modelcontextprotocol/server-memory"
    standin.add(
        {"name": name, "description": "Knowledge graph memory", "version": "2026.8.31", "packages": [package]}
    )
    with run_registry(standin) as url:
        config = fleet_config(tmp_path / "home", url)
        await sync_mirror(RegistryMirror.for_fleet(config), RegistryClient(url))
    async with MCPManager(config) as manager:
        result = await manager.batch_install([name], verify=True)
        assert result.ok, result
        assert "server-memory" in manager.config.servers
        tools = await manager.list_tools("server-memory")
    assert "create_entities" in {t.name for t in tools}


async def test_the_mirror_in_postgresql(standin: RegistryStandIn) -> None:
    database = Database("postgresql://127.0.0.1:5432/test")
    mirror = RegistryMirror(database)
    mirror.create_tables()
    with database.engine.begin() as conn:  # a clean slate: other runs may have left a mirror
        conn.exec_driver_sql("DELETE FROM catalog_mirror")
        conn.exec_driver_sql("DELETE FROM catalog_mirror_state")
    try:
        with run_registry(standin) as url:
            report = await sync_mirror(mirror, RegistryClient(url))
            standin.update("io.github.owner4/calendar-tools-4", description="Calendars, now shared")
            again = await sync_mirror(mirror, RegistryClient(url))
        assert report.offered == COUNT and again.incremental and again.fetched == 1
        assert [i.name for i in mirror.search(["calendars", "shared"])] == [
            "io.github.owner4/calendar-tools-4"
        ]
    finally:
        with database.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM catalog_mirror")
            conn.exec_driver_sql("DELETE FROM catalog_mirror_state")
        database.dispose()
