"""``RegistryClient`` against a registry on loopback: pages, search, lookups and every way it can fail."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from helpers import free_port
from mcpfleet.catalog import RegistryClient
from mcpfleet.exceptions import RegistryError

if TYPE_CHECKING:
    from catalog.conftest import FakeRegistry


async def test_one_page_and_its_cursor(registry: FakeRegistry) -> None:
    client = RegistryClient(registry.url)
    page = await client.list_servers(search="acme/tool", limit=3)
    assert [s.name for s in page.servers] == [f"io.github.acme/tool-{i}" for i in range(3)]
    assert page.next_cursor == "io.github.acme/tool-2:1.0.0"
    assert registry.requests == [
        ("/v0.1/servers", {"search": "acme/tool", "limit": "3", "version": "latest"})
    ]
    last = await client.list_servers(search="acme/tool", cursor="io.github.acme/tool-5:1.0.0", limit=3)
    assert [s.name for s in last.servers] == ["io.github.acme/tool-6"] and last.next_cursor is None


async def test_iterating_follows_cursors_through_every_page(registry: FakeRegistry) -> None:
    client = RegistryClient(registry.url + "/")
    names = [s.name async for s in client.iter_servers("acme/tool", page_size=3)]
    assert names == [f"io.github.acme/tool-{i}" for i in range(7)]
    assert [q.get("cursor") for _, q in registry.requests] == [
        None,
        "io.github.acme/tool-2:1.0.0",
        "io.github.acme/tool-5:1.0.0",
    ]


async def test_iterating_stops_at_max_items_and_on_a_looping_cursor(registry: FakeRegistry) -> None:
    client = RegistryClient(registry.url)
    assert len([s async for s in client.iter_servers(page_size=3, max_items=4)]) == 4
    assert [q["limit"] for _, q in registry.requests] == ["3", "1"]
    registry.mode = "loop"
    registry.requests.clear()
    assert len([s async for s in client.iter_servers("acme/tool", page_size=3)]) == 6
    assert len(registry.requests) == 2


async def test_search_filters_and_bad_or_deleted_entries_are_skipped(registry: FakeRegistry) -> None:
    client = RegistryClient(registry.url)
    page = await client.list_servers(search="WEATHER")
    assert [s.name for s in page.servers] == ["io.github.acme/weather"]
    everything = await client.list_servers(limit=100)
    names = [s.name for s in everything.servers]
    assert "io.github.acme/gone" not in names  # deleted
    assert len(names) == len(registry.servers) - 2  # the deleted one and the one without a name


async def test_get_server_by_its_url_encoded_name(registry: FakeRegistry) -> None:
    client = RegistryClient(registry.url)
    weather = await client.get_server("io.github.acme/weather")
    assert weather is not None and weather.packages[0].identifier == "ghcr.io/acme/weather:2.0.0"
    assert registry.paths() == ["/v0.1/servers/io.github.acme%2Fweather/versions/latest"]
    assert await client.get_server("io.github.acme/nothing") is None
    assert await client.get_server("io.github.acme/gone") is None


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("500", "failed with HTTP 500 on /v0.1/servers: .*database unavailable.*Try again later"),
        ("garbage", "not JSON .*Is `registry_url` the registry's root URL"),
        ("shape", "without a `servers` list"),
    ],
)
async def test_a_broken_registry_is_a_registry_error(registry: FakeRegistry, mode: str, message: str) -> None:
    registry.mode = mode
    with pytest.raises(RegistryError, match=message):
        await RegistryClient(registry.url).list_servers()


async def test_a_wrong_url_says_so(registry: FakeRegistry) -> None:
    with pytest.raises(RegistryError, match=r"has no /v0\.1/servers endpoint.*registry_url"):
        await RegistryClient(registry.url + "/not-the-root").list_servers()


async def test_an_unreachable_registry_says_what_to_do() -> None:
    client = RegistryClient(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(RegistryError, match=r"Cannot reach the MCP registry.*offline.*registry_url"):
        await client.list_servers()
    with pytest.raises(RegistryError, match="Cannot reach"):
        await client.get_server("io.github.acme/weather")


async def test_a_slow_registry_times_out(registry: FakeRegistry) -> None:
    registry.mode = "slow"
    with pytest.raises(RegistryError, match=r"did not answer /v0\.1/servers within 0\.2s"):
        await RegistryClient(registry.url, timeout=0.2).list_servers()
