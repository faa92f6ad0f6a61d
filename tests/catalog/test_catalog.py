"""``Catalog`` with a registry on loopback: search order, duplicates, registry names, and degrading."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from helpers import free_port
from mcpfleet.catalog import Catalog
from mcpfleet.config import OciPackage, RemotePackage
from mcpfleet.exceptions import RegistryError, UnknownServerError

if TYPE_CHECKING:
    from catalog.conftest import FakeRegistry


async def test_search_lists_builtin_entries_first_then_the_registrys(registry: FakeRegistry) -> None:
    catalog = Catalog(registry.url)
    found = await catalog.search("time", limit=100)
    assert (found[0].name, found[0].source) == ("time", "builtin")
    acme = [e for e in found if e.source == "registry"]
    assert [(e.name, e.aliases) for e in acme] == [("acme-time", ("io.github.acme/time",))]  # "time" is taken
    assert catalog.last_registry_error is None
    assert registry.requests[0][1]["search"] == "time"


async def test_search_pages_through_the_registry_and_respects_the_limit(registry: FakeRegistry) -> None:
    catalog = Catalog(registry.url)
    found = await catalog.search("acme tool", limit=100)
    assert [e.name for e in found] == [f"tool-{i}" for i in range(7)]
    assert found[0].required_env() == [] and found[0].to_server_spec().package.identifier == "@acme/tool-0"
    assert [e.name for e in await catalog.search("acme tool", limit=2)] == ["tool-0", "tool-1"]
    assert [e.name for e in await catalog.search("tool number 3", limit=10)] == []  # names hold no "number"
    assert [e.name for e in await catalog.search("acme weather")] == ["weather"]


async def test_a_server_in_both_is_shown_once(registry: FakeRegistry) -> None:
    found = await Catalog(registry.url).search("filesystem", limit=100)
    assert [(e.name, e.source) for e in found] == [("filesystem", "builtin")]


async def test_registry_names_resolve_through_the_registry(registry: FakeRegistry) -> None:
    catalog = Catalog(registry.url)
    weather = await catalog.resolve("io.github.acme/weather")
    assert (weather.name, weather.source) == ("weather", "registry")
    spec = weather.to_server_spec()
    assert spec.package == OciPackage(image="ghcr.io/acme/weather", version="2.0.0")
    assert spec.env == {"WEATHER_KEY": "${WEATHER_KEY}"}
    hosted = await catalog.resolve("com.example/hosted")
    assert hosted.to_server_spec().package == RemotePackage(url="https://mcp.example.com/mcp")
    assert hosted.to_server_spec().headers == {"Authorization": "Bearer ${TOKEN}"}
    assert hosted.required_env() == ["TOKEN"]
    with pytest.raises(UnknownServerError, match=r"io\.github\.acme/nothing.*MCP registry"):
        await catalog.resolve("io.github.acme/nothing")
    with pytest.raises(UnknownServerError, match="in the catalog"):
        await catalog.resolve("nothing-like-it")
    assert len(registry.requests) == 3  # the plain name never reached the registry


@pytest.mark.parametrize("mode", ["500", "garbage", "unreachable"])
async def test_a_broken_registry_degrades_search_and_fails_resolve_clearly(
    registry: FakeRegistry, mode: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}" if mode == "unreachable" else registry.url
    registry.mode = mode
    catalog = Catalog(url)
    found = await catalog.search("memory")
    assert [(e.name, e.source) for e in found] == [("memory", "builtin")]
    assert catalog.last_registry_error is not None and "registry_url" in catalog.last_registry_error
    with pytest.raises(RegistryError, match="registry"):
        await catalog.resolve("io.github.acme/weather")
    assert (await catalog.resolve("memory")).name == "memory"
    registry.mode = "ok"
    if mode != "unreachable":
        await catalog.search("memory")
        assert catalog.last_registry_error is None


async def test_the_registry_is_not_asked_when_it_need_not_be(registry: FakeRegistry) -> None:
    catalog = Catalog(registry.url)
    await catalog.search("weather", include_registry=False)
    await catalog.search("")
    await catalog.search("fs", limit=1)  # the built-in catalog fills the limit
    await catalog.resolve("github")
    assert registry.requests == []
