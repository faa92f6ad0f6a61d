"""A stand-in for the MCP Registry (``/v0.1``) with thousands of generated servers, on loopback.

    standin = RegistryStandIn.generated(2000)       # 2,000 servers, some with older versions
    with run_registry(standin) as url:               # uvicorn in a thread, on a free port
        ...                                          # RegistryClient(url) / sync_mirror
    standin.update("io.github.owner3/weather-7", description="changed")   # a newer updatedAt

It serves what the official registry does, as its docs describe: ``GET /v0.1/servers`` with
``limit`` (1..100, default 30), ``cursor`` (``name:version`` of the last item), ``search`` (a
substring of the name), ``version`` (``latest`` or exact) and ``updated_since`` (RFC 3339, only
entries changed after it; deleted ones included then, so a mirror learns of them); and one
server's versions. ``since_mode`` makes it refuse or ignore ``updated_since``. Used by
tests/catalog and bench/catalog.py.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcpfleet.catalog.config import CatalogConfig
from mcpfleet.catalog.curation import Curation
from mcpfleet.catalog.mirror import RegistryMirror
from mcpfleet.config import FleetConfig
from mcpfleet.database import Database

OFFICIAL = "io.modelcontextprotocol.registry/official"
TOPICS = [
    "weather", "github", "postgres", "slack", "calendar", "files", "search", "browser", "notes",
    "jira", "email", "maps", "finance", "docker", "kubernetes", "translate", "music", "todo",
]  # fmt: skip
KINDS = ["tools", "bridge", "server", "connector", "agent", "helper", "gateway", "kit"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generated_server(i: int, version: str = "1.0.0") -> dict[str, Any]:
    """The ``i``-th generated server.json: npm, PyPI or remote, by turns."""
    topic, kind = TOPICS[i % len(TOPICS)], KINDS[(i // len(TOPICS)) % len(KINDS)]
    name = f"io.github.owner{i % 97}/{topic}-{kind}-{i}"
    server: dict[str, Any] = {
        "name": name,
        "title": f"{topic.title()} {kind} {i}",
        "description": f"A {kind} for {topic}: number {i} of the generated registry",
        "version": version,
    }
    if i % 3 == 0:
        server["packages"] = [{"registryType": "npm", "identifier": f"@owner{i % 97}/{topic}-{kind}-{i}",
                               "version": version, "transport": {"type": "stdio"},
                               "environmentVariables": [{"name": f"{topic.upper()}_TOKEN", "isRequired": True,
                                                         "isSecret": True}]}]  # fmt: skip
    elif i % 3 == 1:
        server["packages"] = [{"registryType": "pypi", "identifier": f"mcp-{topic}-{kind}-{i}",
                               "version": version, "transport": {"type": "stdio"}}]  # fmt: skip
    else:
        server["remotes"] = [{"type": "streamable-http", "url": f"https://{topic}{i}.example.com/mcp"}]
    return server


@dataclass
class Entry:
    server: dict[str, Any]
    published_at: str
    updated_at: str
    is_latest: bool = True
    status: str = "active"

    def wire(self) -> dict[str, Any]:
        official = {"status": self.status, "publishedAt": self.published_at, "updatedAt": self.updated_at,
                    "isLatest": self.is_latest}  # fmt: skip
        return {"server": self.server, "_meta": {OFFICIAL: official}}


@dataclass
class RegistryStandIn:
    """The registry's content and what it was asked. ``since_mode``: ok, refuse (HTTP 400) or ignore."""

    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    since_mode: str = "ok"
    clock: datetime = EPOCH

    @classmethod
    def generated(cls, count: int, *, old_versions_every: int = 10) -> RegistryStandIn:
        """``count`` servers; every ``old_versions_every``-th also has an older, not-latest version."""
        standin = cls()
        for i in range(count):
            if old_versions_every and i % old_versions_every == 0:
                standin.add(generated_server(i, "0.9.0"), latest=False)
            standin.add(generated_server(i))
        return standin

    def tick(self) -> str:
        self.clock += timedelta(milliseconds=1)
        return stamp(self.clock)

    def add(self, server: dict[str, Any], *, latest: bool = True) -> None:
        now = self.tick()
        if latest:
            for (name, _), entry in self.entries.items():
                if name == server["name"] and entry.is_latest:
                    entry.is_latest, entry.updated_at = False, now
        self.entries[(server["name"], server["version"])] = Entry(server, now, now, latest)

    def latest(self, name: str) -> Entry:
        return next(e for (n, _), e in self.entries.items() if n == name and e.is_latest)

    def update(self, name: str, **fields: Any) -> None:
        """Change the latest version of ``name`` in place (as a registry edit does)."""
        entry = self.latest(name)
        entry.server = {**entry.server, **fields}
        entry.updated_at = self.tick()

    def delete(self, name: str) -> None:
        for (n, _), entry in self.entries.items():
            if n == name:
                entry.status, entry.updated_at = "deleted", self.tick()

    def names(self) -> list[str]:
        return sorted({n for (n, _), e in self.entries.items() if e.status != "deleted"})

    # ------------------------------------------------------------------ the API

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v0.1/servers", self._list),
                Route("/v0.1/servers/{name:path}/versions", self._versions),
                Route("/v0.1/servers/{name:path}/versions/{version}", self._version),
            ]
        )

    def _list(self, request: Request) -> JSONResponse:
        query = dict(request.query_params)
        self.requests.append(query)
        limit = int(query.get("limit", "30"))
        if not 1 <= limit <= 100:
            return JSONResponse({"title": "Bad Request", "detail": "limit: 1..100"}, status_code=400)
        since = query.get("updated_since") if self.since_mode != "ignore" else None
        if since and self.since_mode == "refuse":
            return JSONResponse({"title": "Bad Request", "detail": "unknown parameter"}, status_code=400)
        if since:
            since = stamp(datetime.fromisoformat(since).astimezone(UTC))
        after = tuple(query["cursor"].partition(":")[::2]) if query.get("cursor") else None
        chosen = []
        for (name, version), entry in sorted(self.entries.items()):
            if entry.status == "deleted" and not since and query.get("include_deleted") != "true":
                continue
            if since and entry.updated_at <= since:
                continue
            if query.get("search", "").lower() not in name.lower():
                continue
            if query.get("version") == "latest" and not entry.is_latest:
                continue
            if after is not None and (name, version) <= after:
                continue
            chosen.append(entry)
        page = chosen[:limit]
        metadata: dict[str, Any] = {"count": len(page)}
        if len(chosen) > limit:
            metadata["nextCursor"] = f"{page[-1].server['name']}:{page[-1].server['version']}"
        return JSONResponse({"servers": [e.wire() for e in page], "metadata": metadata})

    def _versions(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        found = [e.wire() for (n, _), e in self.entries.items() if n == name and e.status != "deleted"]
        if not found:
            return JSONResponse({"title": "Not Found"}, status_code=404)
        return JSONResponse({"servers": found, "metadata": {"count": len(found)}})

    def _version(self, request: Request) -> JSONResponse:
        name, version = request.path_params["name"], request.path_params["version"]
        for (n, v), entry in self.entries.items():
            if (
                n == name
                and entry.status != "deleted"
                and (v == version or (version == "latest" and entry.is_latest))
            ):
                return JSONResponse(entry.wire())
        return JSONResponse({"title": "Not Found"}, status_code=404)


@contextlib.contextmanager
def run_app(app: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn in a thread on a free loopback port; yields its URL. The
    server is stopped (and its port closed) when the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="registry-standin", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the registry stand-in did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run_registry(standin: RegistryStandIn) -> contextlib.AbstractContextManager[str]:
    return run_app(standin.app())


def words_of(rng: random.Random) -> str:
    """A search query like a person types: a topic, sometimes with a kind."""
    topic = rng.choice(TOPICS)
    return f"{topic} {rng.choice(KINDS)}" if rng.random() < 0.5 else topic


def sqlite_mirror(folder: Path, curation: Curation | None = None) -> RegistryMirror:
    """A mirror in a SQLite file of its own in ``folder``."""
    return RegistryMirror(Database(f"sqlite:///{folder / 'fleet.db'}"), curation)


def fleet_config(home: Path, registry_url: str, **catalog: Any) -> FleetConfig:
    """A fleet in ``home`` reading the registry at ``registry_url``, with ``catalog:`` settings."""
    return FleetConfig(home=str(home), registry_url=registry_url, catalog=CatalogConfig(**catalog))
