"""The mirror served in the registry's own API: a second fleet syncs, page after page, from the first
one's gateway (``/registry/v0.1``), and lookups, versions and bad requests answer as the registry's."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from catalog_helpers import RegistryStandIn, fleet_config, run_registry
from helpers import serve_gateway
from mcpfleet.catalog import RegistryClient
from mcpfleet.catalog.mirror import RegistryMirror
from mcpfleet.catalog.sync import sync_mirror
from mcpfleet.database import Database
from mcpfleet.manager import MCPManager
from mcpfleet.security import AccessConfig, ApiKeyStore, AuthConfig

pytestmark = pytest.mark.timeout(120)
COUNT = 2000


@pytest.fixture
def standin() -> RegistryStandIn:
    return RegistryStandIn.generated(COUNT)


async def test_a_second_fleet_syncs_from_the_first_ones_gateway(
    tmp_path: Path, standin: RegistryStandIn
) -> None:
    with run_registry(standin) as url:
        first = fleet_config(tmp_path / "a", url)
        await sync_mirror(RegistryMirror.for_fleet(first), RegistryClient(url))
    first.gateway.port = 0
    second = RegistryMirror(Database(f"sqlite:///{tmp_path / 'b.db'}"))
    async with MCPManager(first) as manager, serve_gateway(manager) as gateway:
        base = gateway + "/registry"
        client = RegistryClient(base)
        report = await sync_mirror(second, client, page_size=37)
        assert report.fetched == len(standin.entries) and report.pages == -(-report.fetched // 37)
        assert second.count() == COUNT
        standin_item = standin.latest("io.github.owner9/jira-tools-9")
        one = await client.get_server("io.github.owner9/jira-tools-9")
        assert one is not None and one.description == standin_item.server["description"]
        async with httpx.AsyncClient(base_url=base) as http:
            versions = (
                await http.get("/v0.1/servers/io.github.owner96%2Fweather-gateway-1260/versions")
            ).json()
            assert [s["server"]["version"] for s in versions["servers"]] == ["1.0.0", "0.9.0"]
            bad = await http.get("/v0.1/servers", params={"updated_since": "yesterday"})
            assert bad.status_code == 400 and "RFC 3339" in bad.json()["detail"]
            missing = await http.get("/v0.1/servers/io.github.nobody%2Fx/versions/latest")
            assert missing.status_code == 404
            since = (await http.get("/v0.1/servers", params={"updated_since": "2030-01-01T00:00:00Z"})).json()
            assert since == {"servers": [], "metadata": {"count": 0}}
        again = await sync_mirror(second, client)
        assert again.incremental and again.fetched == 0
    a, b = RegistryMirror.for_fleet(first), second
    for item in b.page(limit=100)[0]:
        assert item.wire() == a.get(item.name, item.version).wire()  # type: ignore[union-attr]


async def test_behind_authentication_any_caller_may_read_it(tmp_path: Path) -> None:
    """The gateway asks who calls (as everywhere but the probes); reading the catalog needs no admin role."""
    standin = RegistryStandIn.generated(40)
    with run_registry(standin) as url:
        config = fleet_config(tmp_path / "home", url)
        await sync_mirror(RegistryMirror.for_fleet(config), RegistryClient(url))
    config.gateway.port = 0
    config.auth = AuthConfig.model_validate({"mode": "api_key"})
    config.access = AccessConfig.model_validate({"roles": {"admin": ["all"], "viewer": ["read", "list"]}})
    viewer, _ = ApiKeyStore(Database.for_fleet(config)).create("viewer-key", "viewer")
    key = {"x-api-key": viewer}
    async with MCPManager(config) as manager, serve_gateway(manager) as gateway:
        http = httpx.AsyncClient(base_url=gateway)
        async with http:
            anonymous = await http.get("/registry/v0.1/servers")
            listed = await http.get("/registry/v0.1/servers", params={"limit": 5}, headers=key)
            admin_api = await http.get("/api/v1/servers", headers=key)
    assert anonymous.status_code == 401
    assert listed.status_code == 200 and len(listed.json()["servers"]) == 5
    assert listed.json()["metadata"]["nextCursor"] == "io.github.owner10/email-tools-10:1.0.0"  # versions too
    assert admin_api.status_code == 403
