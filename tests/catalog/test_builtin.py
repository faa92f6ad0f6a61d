"""The built-in catalog: names, aliases, real packages, and secrets kept as references."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcpfleet.catalog import Catalog, CatalogEntry
from mcpfleet.config import (
    SERVER_NAME,
    FleetConfig,
    NpmPackage,
    OciPackage,
    PypiPackage,
    RemotePackage,
    dump_config,
    parse_config,
)
from mcpfleet.exceptions import UnknownServerError
from mcpfleet.manager import MCPManager
from mcpfleet.secrets import resolve, resolve_all

ENTRIES = Catalog().builtin()
GUIDE = ("filesystem", "postgres", "github", "search")
WELL_KNOWN = (
    "time", "fetch", "git", "memory", "everything", "sqlite", "sequential-thinking", "puppeteer",
    "playwright", "slack", "redis", "gdrive", "sentry", "brave-search",
)  # fmt: skip


def test_there_are_enough_entries_and_every_name_is_unique_and_a_valid_server_name() -> None:
    assert len(ENTRIES) >= 25
    names = [n for e in ENTRIES for n in (e.name, *e.aliases)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    for name in names:
        assert re.fullmatch(SERVER_NAME, name), f"{name!r} cannot be a fleet server name"
    for entry in ENTRIES:
        assert entry.source == "builtin" and entry.name not in entry.aliases
        assert entry.server.name == f"mcpfleet.builtin/{entry.name}"
        assert 0 < len(entry.description) <= 100  # the registry's limit
    assert len(set(ENTRIES)) == len(ENTRIES)  # entries are hashable values


@pytest.mark.parametrize("name", GUIDE + WELL_KNOWN)
async def test_the_guides_and_well_known_names_resolve_offline(name: str) -> None:
    catalog = Catalog("http://127.0.0.1:9")  # never asked: nothing listens there
    entry = await catalog.resolve(name)
    assert name in (entry.name, *entry.aliases)
    assert await catalog.resolve(name.upper()) is entry


async def test_aliases_lead_to_the_expected_servers() -> None:
    catalog = Catalog()
    assert (await catalog.resolve("search")).name == "brave-search"
    assert (await catalog.resolve("fs")).name == "filesystem"
    assert (await catalog.resolve("pg")).name == "postgres"
    assert (await catalog.resolve("gh")).name == "github"
    with pytest.raises(UnknownServerError, match="Did you mean 'filesystem'"):
        await catalog.resolve("filesystm")


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_every_entry_becomes_a_valid_fleet_server(entry: CatalogEntry) -> None:
    spec = entry.to_server_spec()
    config = FleetConfig(servers={entry.name: spec})
    assert parse_config(dump_config(config)).servers[entry.name] == spec
    assert spec.description == entry.description


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_what_the_user_provides_is_named_and_never_stored(entry: CatalogEntry) -> None:
    spec = entry.to_server_spec()
    package = entry.package()
    declared = package.environment_variables if package else []
    for var in declared:
        if var.is_secret:
            assert spec.env[var.name] == f"${{{var.name}}}"
        if var.is_required and var.value is None:
            assert var.name in entry.required_env()
    # With every required variable set, the server's env, args and headers resolve.
    variables = {name: f"<{name}>" for name in entry.required_env()}
    variables["MCPFLEET_SERVER_DATA"] = "/fleet/data/x"
    resolve_all(spec.env, variables, where="env")
    resolve_all(spec.headers, variables, where="headers")
    [resolve(a, variables, where="args") for a in spec.args]


def test_published_packages_and_pinned_versions() -> None:
    by_name = {e.name: e.to_server_spec().package for e in ENTRIES}
    assert by_name["filesystem"] == NpmPackage(
        name="@modelcontextprotocol/server-filesystem", version="2026.8.31"
    )
    assert by_name["memory"] == NpmPackage(name="@modelcontextprotocol/server-memory", version="2026.8.31")
    assert by_name["everything"] == NpmPackage(
        name="@modelcontextprotocol/server-everything", version="2026.8.31"
    )
    assert by_name["sequential-thinking"] == NpmPackage(
        name="@modelcontextprotocol/server-sequential-thinking", version="2026.8.31"
    )
    assert by_name["time"] == PypiPackage(name="mcp-server-time", version="2026.10.19")
    assert by_name["git"] == PypiPackage(name="mcp-server-git", version="2026.10.19")
    assert by_name["fetch"] == PypiPackage(name="mcp-server-fetch", version="2026.10.24")
    sqlite = PypiPackage(name="mcp-server-sqlite", version="2025.4.25", constraints=["mcp<2"])
    assert by_name["sqlite"] == sqlite  # its last release predates mcp 2
    assert by_name["docker"] == PypiPackage(name="mcp-server-docker", version="0.3.0", python="3.12")
    assert by_name["github"] == OciPackage(image="ghcr.io/github/github-mcp-server", version="latest")
    assert isinstance(by_name["github-remote"], RemotePackage)


async def test_path_and_url_arguments_use_the_data_folder_or_a_required_variable() -> None:
    catalog = Catalog()
    data = {"MCPFLEET_SERVER_DATA": "/fleet/data/s"}

    async def launched(name: str, **variables: str) -> list[str]:
        spec = (await catalog.resolve(name)).to_server_spec()
        return [resolve(a, {**data, **variables}, where="args") for a in spec.args]

    assert await launched("filesystem") == ["/fleet/data/s"]
    assert await launched("sqlite") == ["--db-path", "/fleet/data/s/sqlite.db"]
    assert await launched("git") == []  # any repository, named per call
    assert await launched("postgres", POSTGRES_URL="postgresql://db/app") == ["postgresql://db/app"]
    assert await launched("redis") == ["redis://127.0.0.1:6379"]
    assert (await catalog.resolve("postgres")).required_env() == ["POSTGRES_URL"]
    assert (await catalog.resolve("git")).required_env() == []
    memory = (await catalog.resolve("memory")).to_server_spec()
    assert resolve_all(memory.env, data, where="env") == {"MEMORY_FILE_PATH": "/fleet/data/s/memory.json"}


async def test_secrets_become_references() -> None:
    catalog = Catalog()
    github = await catalog.resolve("github")
    assert github.required_env() == ["GITHUB_PERSONAL_ACCESS_TOKEN"]
    assert github.to_server_spec().env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_PERSONAL_ACCESS_TOKEN}"}
    gitlab = (await catalog.resolve("gitlab")).to_server_spec()
    assert gitlab.env["GITLAB_API_URL"] == "${GITLAB_API_URL:-https://gitlab.com/api/v4}"
    remote = (await catalog.resolve("github-remote")).to_server_spec()
    assert remote.headers == {"Authorization": "Bearer ${GITHUB_PERSONAL_ACCESS_TOKEN}"}
    search = await catalog.resolve("search")
    assert search.required_env() == ["BRAVE_API_KEY"]


async def test_offline_search_of_the_builtin_catalog() -> None:
    catalog = Catalog("http://127.0.0.1:9")
    found = await catalog.search("search", include_registry=False)
    assert found[0].name == "brave-search"  # an exact alias comes first
    assert {"duckduckgo", "exa", "tavily"} <= {e.name for e in found}
    assert [e.name for e in await catalog.search("postgresql", include_registry=False)] == ["postgres"]
    assert len(await catalog.search("", limit=5)) == 5
    assert len(await catalog.search("")) == min(30, len(ENTRIES))
    assert await catalog.search("no such thing at all", include_registry=False) == []


@pytest.mark.slow
@pytest.mark.pypi
@pytest.mark.timeout(300)
async def test_sqlite_installs_as_pinned_and_lists_its_tools(tmp_path: Path) -> None:
    """mcp-server-sqlite 2025.4.25 predates mcp 2 and crashes with it; the entry holds mcp below 2."""
    async with MCPManager(FleetConfig(registry_url="http://127.0.0.1:9"), home=tmp_path / "home") as manager:
        result = await manager.batch_install(["sqlite"], verify=True)  # verify: start, list its tools
        assert result.ok, result.failed
        tools = {t.tool["name"] for t in await manager.list_tools("sqlite")}
        assert {"read_query", "write_query", "list_tables"} <= tools
        record = manager.lock.get("sqlite")
        assert record is not None and record.constraints == ("mcp<2",)

        # Without the constraint, it installs with mcp 2, does not start, and is not kept.
        package = manager.spec("sqlite").package.model_copy(update={"constraints": []})
        manager.config.servers["bare"] = manager.spec("sqlite").model_copy(update={"package": package})
        bare = (await manager.batch_install(["bare"], verify=True)).by_server("bare")
        assert not bare.ok and "list_resources" in (bare.reason or "") and manager.lock.get("bare") is None
