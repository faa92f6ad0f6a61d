"""A registry speaking the MCP Registry API (``/v0.1/servers``), served on a free loopback port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest


def npm_server(name: str, identifier: str, description: str, **extra: Any) -> dict[str, Any]:
    package = {
        "registryType": "npm",
        "identifier": identifier,
        "version": "1.0.0",
        "transport": {"type": "stdio"},
    }
    return {"name": name, "description": description, "version": "1.0.0", "packages": [package], **extra}


SERVERS: list[dict[str, Any]] = [
    *(npm_server(f"io.github.acme/tool-{i}", f"@acme/tool-{i}", f"acme tool number {i}") for i in range(7)),
    {"name": "io.github.acme/weather", "description": "Weather forecasts in a container", "version": "2.0.0",
     "someFutureField": {"ignored": True},
     "packages": [{"registryType": "oci", "identifier": "ghcr.io/acme/weather:2.0.0",
                   "transport": {"type": "stdio"},
                   "environmentVariables": [{"name": "WEATHER_KEY", "isRequired": True, "isSecret": True}]}]},
    {"name": "com.example/hosted", "description": "A hosted server", "version": "1.0.0",
     "remotes": [{"type": "streamable-http", "url": "https://mcp.example.com/mcp",
                  "headers": [{"name": "Authorization", "value": "Bearer {token}",
                               "variables": {"token": {"isRequired": True, "isSecret": True}}}]}]},
    npm_server("io.github.modelcontextprotocol/filesystem", "@modelcontextprotocol/server-filesystem",
               "The reference filesystem server, listed in the registry too"),
    npm_server("io.github.acme/time", "@acme/time", "Time as acme tells it"),
    npm_server("io.github.acme/gone", "@acme/gone", "A deleted server"),
    {"description": "not a server.json: no name"},
]  # fmt: skip

DELETED = {"io.github.acme/gone"}


@dataclass
class FakeRegistry:
    """What the registry serves and what it was asked.

    ``mode``: ok; 500; garbage (not JSON); shape (JSON without `servers`); loop (ignores the
    cursor and always hands out the same next one); slow (answers when the test ends).
    """

    url: str
    servers: list[dict[str, Any]] = field(default_factory=lambda: list(SERVERS))
    mode: str = "ok"
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


def _item(server: dict[str, Any]) -> dict[str, Any]:
    status = "deleted" if server.get("name") in DELETED else "active"
    official = {"status": status, "isLatest": True, "publishedAt": "2026-01-01T00:00:00Z"}
    return {"server": server, "_meta": {"io.modelcontextprotocol.registry/official": official}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        registry = self.server.registry
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        registry.requests.append((url.path, query))
        if registry.mode == "slow":
            registry.release.wait(10)
        if registry.mode == "500":
            return self._send(500, b'{"error": "database unavailable"}')
        if registry.mode == "garbage":
            return self._send(200, b"<html>this is not json")
        if registry.mode == "shape":
            return self._json(200, {"items": []})
        prefix = "/v0.1/servers"
        if url.path == prefix:
            return self._json(200, self._page(registry, query))
        parts = url.path.split("/")  # ['', 'v0.1', 'servers', '<encoded name>', 'versions', 'latest']
        if len(parts) == 6 and url.path.startswith(prefix + "/") and parts[4:] == ["versions", "latest"]:
            name = unquote(parts[3])
            for server in registry.servers:
                if server.get("name") == name and name not in DELETED:
                    return self._json(200, _item(server))
        return self._json(404, {"error": "Server not found"})

    def _page(self, registry: FakeRegistry, query: dict[str, str]) -> dict[str, Any]:
        search = query.get("search", "").lower()
        found = [s for s in registry.servers if search in str(s.get("name", "")).lower()]
        limit = min(int(query.get("limit", "30")), 100)
        cursor = query.get("cursor")
        start = 0
        if (
            cursor is not None and registry.mode != "loop"
        ):  # an opaque cursor, as the official one: name:version of the last item
            keys = [f"{s.get('name')}:{s.get('version')}" for s in found]
            start = keys.index(cursor) + 1 if cursor in keys else len(found)
        page = found[start : start + limit]
        more = start + limit < len(found)
        next_cursor = f"{page[-1].get('name')}:{page[-1].get('version')}" if page and more else None
        if registry.mode == "loop":
            next_cursor = "always-the-same"
        return {
            "servers": [_item(s) for s in page],
            "metadata": {"nextCursor": next_cursor, "count": len(page)},
        }

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode())

    def _send(self, status: int, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (a timeout test)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: FakeRegistry

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up is not the test's business


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.registry = FakeRegistry(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-registry", daemon=True)
    thread.start()
    try:
        yield server.registry
    finally:
        server.registry.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
