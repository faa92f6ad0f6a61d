"""``catalog.allow`` / ``catalog.deny``: globs on registry names, the same in Python and in SQL, applied
to search, resolve and what the mirror serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_helpers import RegistryStandIn, fleet_config, run_app, run_registry, sqlite_mirror
from mcpfleet.catalog import Catalog, RegistryClient
from mcpfleet.catalog.curation import Curation
from mcpfleet.catalog.mirror import MirrorItem, RegistryMirror
from mcpfleet.catalog.serving import registry_app
from mcpfleet.catalog.sync import sync_mirror
from mcpfleet.exceptions import CatalogError

pytestmark = pytest.mark.timeout(120)
COUNT = 2000


@pytest.fixture
def standin() -> RegistryStandIn:
    return RegistryStandIn.generated(COUNT)


def test_globs_in_python_and_in_sql_agree(tmp_path: Path) -> None:
    curation = Curation.of(allow=["io.github.ACME/*", "com.example/exact", "x_%/?"], deny=["*-beta"])
    names = [
        "io.github.acme/tools", "io.github.acme/tools-beta", "io.github.acmes/tools", "com.example/exact",
        "com.example/exactly", "x_%/a", "xy%/a", "x_%/ab", "IO.GITHUB.ACME/Upper",
    ]  # fmt: skip
    allowed = {n for n in names if curation.allows(n)}
    assert allowed == {"io.github.acme/tools", "com.example/exact", "x_%/a", "IO.GITHUB.ACME/Upper"}
    mirror = sqlite_mirror(tmp_path, curation)
    mirror.create_tables()

    items = [
        MirrorItem.from_wire({"name": n, "version": "1.0.0"}, "2026-01-01T00:00:00.000000Z") for n in names
    ]
    mirror.store([i for i in items if i is not None], sync_id=1)
    assert {i.name for i in mirror.page(limit=100)[0]} == allowed  # LIKE, with _ and % escaped
    assert not Curation() and Curation().allows("anything/at-all")


async def test_allow_and_deny_lists_curate_search_resolve_and_serving(
    tmp_path: Path, standin: RegistryStandIn
) -> None:
    with run_registry(standin) as url:
        config = fleet_config(tmp_path, url, allow=["io.github.owner1?/*"], deny=["*-beta*", "*/weather-*"])
        standin.add(
            {
                **standin.latest("io.github.owner12/finance-tools-12").server,
                "name": "io.github.owner12/x-beta",
            }
        )
        await sync_mirror(RegistryMirror.for_fleet(config), RegistryClient(url))
    catalog = Catalog.for_fleet(config)
    found = await catalog.search("tools", limit=1000)
    names = {e.server.name for e in found}
    assert names and all(n.startswith("io.github.owner1") and len(n.split("/")[0]) == 17 for n in names)
    assert not any("weather-" in n or "beta" in n for n in names)
    assert (await catalog.resolve("io.github.owner12/finance-tools-12")).source == "mirror"
    with pytest.raises(CatalogError, match=r"catalog\.allow / catalog\.deny"):
        await catalog.resolve("io.github.owner2/postgres-tools-2")
    assert catalog.mirror is not None
    with run_app(registry_app(catalog.mirror)) as served:
        listed = [s async for s in RegistryClient(served).iter_servers(max_items=5000)]
    assert {s.name for s in listed} == {n for n in standin.names() if catalog.curation.allows(n)}
