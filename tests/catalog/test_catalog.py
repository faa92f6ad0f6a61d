"""The built-in catalog and the registry client, against a registry served on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from mcpfleet.catalog import Catalog
from mcpfleet.config import NpmPackage, OciPackage, RemotePackage
from mcpfleet.exceptions import RegistryError, UnknownServerError

SERVERS = [
    {"name": f"io.github.acme/tool-{i}", "description": f"acme tool number {i}", "version": "1.0.0",
     "packages": [{"registryType": "npm", "identifier": f"@acme/tool-{i}", "version": "1.0.0",
                   "transport": {"type": "stdio"},
                   "environmentVariables": [{"name": "ACME_KEY", "isRequired": True, "isSecret": True}]}]}
    for i in range(7)
] + [
    {"name": "io.github.acme/weather", "description": "weather as a container", "version": "2.0.0",
     "packages": [{"registryType": "oci", "identifier": "docker.io/acme/weather:2.0.0",
                   "transport": {"type": "stdio"}, "someFutureField": 1}]},
    {"name": "com.example/hosted", "description": "a hosted server", "version": "1.0.0",
     "remotes": [{"type": "streamable-http", "url": "https://mcp.example.com/mcp",
                  "headers": [{"name": "Authorization", "value": "Bearer ${EXAMPLE_TOKEN}",
                               "isSecret": True}]}]},
]  # fmt: skip


class Registry(BaseHTTPRequestHandler):
    mode = "ok"

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if Registry.mode == "500":
            self.send_response(500)
            self.end_headers()
            return
        if Registry.mode == "garbage":
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b"<html>not json")
            return
        if url.path != "/v0/servers":
            self.send_response(404)
            self.end_headers()
            return
        found = [s for s in SERVERS if query.get("search", "") in s["name"]]
        start = int(query.get("cursor", "0"))
        limit = int(query.get("limit", "3"))
        page = found[start : start + limit]
        nxt = str(start + limit) if start + limit < len(found) else None
        body = {"servers": [{"server": s, "_meta": {}} for s in page], "metadata": {"nextCursor": nxt}}
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    Registry.mode = "ok"
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_builtin_has_the_guides_servers_and_more() -> None:
    catalog = Catalog()
    entries = catalog.builtin()
    assert len(entries) >= 25
    names = [n for e in entries for n in (e.name, *e.aliases)]
    assert len(names) == len(set(names)), "every name and alias is unique"
    for name in ("filesystem", "postgres", "github", "search", "time", "fetch", "git", "memory",
                 "everything", "sqlite"):  # fmt: skip
        assert (await catalog.resolve(name)).to_server_spec()
    for entry in entries:
        entry.to_server_spec()  # every entry is a valid fleet server


async def test_required_env_is_named_and_kept_as_references() -> None:
    catalog = Catalog()
    github = await catalog.resolve("github")
    assert github.required_env() == ["GITHUB_PERSONAL_ACCESS_TOKEN"]
    spec = github.to_server_spec()
    assert isinstance(spec.package, OciPackage)
    assert spec.env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_PERSONAL_ACCESS_TOKEN}"}
    postgres = (await catalog.resolve("postgres")).to_server_spec()
    assert postgres.args == ["${POSTGRES_URL}"]
    with pytest.raises(UnknownServerError, match="Did you mean 'filesystem'"):
        await catalog.resolve("filesystm")


async def test_search_pages_through_the_registry(registry: str) -> None:
    catalog = Catalog(registry)
    found = await catalog.search("acme/tool", limit=100)
    assert [e.name for e in found] == [f"tool-{i}" for i in range(7)]  # three pages of three
    assert found[0].source == "registry" and found[0].required_env() == ["ACME_KEY"]
    spec = found[0].to_server_spec()
    assert isinstance(spec.package, NpmPackage) and spec.env == {"ACME_KEY": "${ACME_KEY}"}
    both = await catalog.search("time", limit=100)
    assert both[0].name == "time" and both[0].source == "builtin"


async def test_registry_entries_resolve_by_name(registry: str) -> None:
    catalog = Catalog(registry)
    weather = (await catalog.resolve("io.github.acme/weather")).to_server_spec()
    assert isinstance(weather.package, OciPackage)
    assert (weather.package.image, weather.package.version) == ("docker.io/acme/weather", "2.0.0")
    hosted = await catalog.resolve("com.example/hosted")
    spec = hosted.to_server_spec()
    assert isinstance(spec.package, RemotePackage) and spec.headers == {
        "Authorization": "Bearer ${EXAMPLE_TOKEN}"
    }
    assert hosted.required_env() == ["EXAMPLE_TOKEN"]


@pytest.mark.parametrize("mode", ["500", "garbage"])
async def test_a_broken_registry_degrades_search_and_fails_resolve_clearly(registry: str, mode: str) -> None:
    Registry.mode = mode
    catalog = Catalog(registry)
    found = await catalog.search("memory")
    assert [e.name for e in found] == ["memory"]
    assert catalog.last_registry_error is not None
    with pytest.raises(RegistryError, match="registry"):
        await catalog.resolve("io.github.acme/weather")
