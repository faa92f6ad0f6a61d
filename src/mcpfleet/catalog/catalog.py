"""``Catalog``: what can be installed, from the built-in list first and then the MCP registry.

    catalog = Catalog()                                   # or Catalog(config.registry_url)
    entry = await catalog.resolve("postgres")             # a built-in name or alias
    entry.required_env()                                  # ['POSTGRES_URL']
    spec = entry.to_server_spec()                         # args: ['${POSTGRES_URL}']
    found = await catalog.search("weather", limit=10)     # built-in matches, then the registry's

Built-in names never need the network; registry names (``io.github.acme/weather``) do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

import httpx

from mcpfleet.catalog.builtin import builtin_servers
from mcpfleet.catalog.convert import oci_reference, required_variables, runnable_packages, to_server_spec
from mcpfleet.catalog.registry import DEFAULT_REGISTRY, MAX_PAGE_SIZE, RegistryClient
from mcpfleet.catalog.schema import Package, ServerJson
from mcpfleet.config import ServerSpec
from mcpfleet.exceptions import CatalogError, RegistryError, UnknownServerError

__all__ = ["Catalog", "CatalogEntry"]

log = logging.getLogger("mcpfleet.catalog")


@dataclass(frozen=True)
class CatalogEntry:
    """One installable server: its short ``name`` (a valid fleet server name), other ``aliases``
    (for a registry entry, its full registry name), and its ``server.json``."""

    name: str
    aliases: tuple[str, ...]
    server: ServerJson = field(hash=False)
    source: Literal["builtin", "registry"]

    @property
    def description(self) -> str:
        return self.server.description or self.server.title or ""

    def package(self) -> Package | None:
        """The package mcpfleet would install (npm, then PyPI, then OCI; stdio only), if any."""
        return next(iter(runnable_packages(self.server)), None)

    def to_server_spec(self) -> ServerSpec:
        """A fleet server for this entry; what the user provides stays a ``${NAME}`` reference.

        Raises :class:`CatalogError` when the entry offers nothing mcpfleet can run.
        """
        return to_server_spec(self.server, trusted=self.source == "builtin")

    def required_env(self) -> list[str]:
        """Variables that must be set (environment or the fleet's ``.env``) before it can start."""
        try:
            return required_variables(self.to_server_spec())
        except CatalogError:
            package = self.package()
            return [v.name for v in package.environment_variables if v.is_required] if package else []

    def identifiers(self) -> set[str]:
        """Package identifiers and remote URLs, to recognise one server listed twice."""
        ids = {p.identifier for p in self.server.packages}
        ids |= {
            oci_reference(p.identifier, None)[0] for p in self.server.packages if p.registry_type == "oci"
        }
        return ids | {r.url.rstrip("/") for r in self.server.remotes}

    def matches(self, words: Iterable[str]) -> bool:
        """Every word is in the name, an alias, the title, the description or a package identifier."""
        text = " ".join(
            [self.name, *self.aliases, self.description, self.server.title or ""]
            + [p.identifier for p in self.server.packages]
        ).lower()
        return all(word in text for word in words)

    def rank(self, words: Iterable[str]) -> int:
        """0: a word is the name or an alias; 1: the name starts with one; 2: matched elsewhere."""
        names = (self.name, *self.aliases)
        words = list(words)
        if any(w in names for w in words):
            return 0
        return 1 if any(self.name.startswith(w) for w in words) else 2


def short_name(registry_name: str, taken: Iterable[str] = ()) -> str:
    """A fleet server name for a registry name: ``io.github.acme/weather-mcp`` -> ``weather-mcp``,
    or ``acme-weather-mcp`` when that is ``taken``."""
    taken = set(taken)
    namespace, _, tail = registry_name.rpartition("/")
    owner = namespace.rsplit(".", 1)[-1]
    for candidate in (tail, f"{owner}-{tail}", registry_name):
        name = re.sub(r"[^a-z0-9_-]+", "-", candidate.lower()).strip("-_")[:63].rstrip("-_")
        if name and name not in taken:
            return name
    return "server"


class Catalog:
    """The built-in catalog, then the MCP registry at ``registry_url`` (no request until one is needed)."""

    def __init__(
        self,
        registry_url: str = DEFAULT_REGISTRY,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.registry = RegistryClient(registry_url, timeout, transport)
        self.last_registry_error: str | None = None
        self._builtin = [CatalogEntry(n, a, s, "builtin") for n, a, s in builtin_servers()]
        self._by_name = {name: e for e in self._builtin for name in (e.name, *e.aliases)}

    def builtin(self) -> list[CatalogEntry]:
        """Every built-in entry."""
        return list(self._builtin)

    def names(self) -> list[str]:
        """Every built-in name and alias."""
        return list(self._by_name)

    def _registry_entry(self, server: ServerJson, taken: Iterable[str]) -> CatalogEntry:
        return CatalogEntry(short_name(server.name, taken), (server.name,), server, "registry")

    async def resolve(self, name: str) -> CatalogEntry:
        """A built-in name or alias; else, for a registry name (``io.github.acme/weather``), the
        registry's latest version. Raises :class:`UnknownServerError`, or :class:`RegistryError`
        when the registry cannot be asked."""
        entry = self._by_name.get(name.strip().lower())
        if entry is not None:
            return entry
        if "/" in name:
            server = await self.registry.get_server(name.strip())
            if server is not None:
                return self._registry_entry(server, self._by_name)
            where = f"the catalog or the MCP registry at {self.registry.base_url}"
            raise UnknownServerError(name, self.names(), where=where)
        raise UnknownServerError(name, self.names(), where="the catalog")

    async def search(
        self, query: str, *, limit: int = 30, include_registry: bool = True
    ) -> list[CatalogEntry]:
        """Entries whose name, aliases, description or package match every word of ``query``:
        built-in ones first (exact names first), then the registry's, without duplicates.

        An empty query lists the built-in catalog. When the registry cannot be reached the
        built-in results still come back and ``last_registry_error`` says why.
        """
        words = query.lower().split()
        builtin = [e for e in self._builtin if e.matches(words)]
        found = sorted(builtin, key=lambda e: e.rank(words))[: max(limit, 0)]
        self.last_registry_error = None
        if include_registry and words and len(found) < limit:
            try:
                found += await self._search_registry(words, limit - len(found), found)
            except RegistryError as exc:
                self.last_registry_error = str(exc)
                log.info("%s", exc)  # callers show last_registry_error themselves
        return found

    async def _search_registry(
        self, words: list[str], wanted: int, shown: list[CatalogEntry]
    ) -> list[CatalogEntry]:
        # The registry matches one substring of the name; the other words are checked here.
        term = max(words, key=len)
        known = set().union(*(e.identifiers() for e in shown)) | {e.server.name for e in shown}
        taken = set(self._by_name) | {e.name for e in shown}
        found: list[CatalogEntry] = []
        servers = self.registry.iter_servers(term, page_size=MAX_PAGE_SIZE, max_items=max(100, wanted * 5))
        async with aclosing(servers):
            async for server in servers:
                entry = self._registry_entry(server, taken)
                ids = entry.identifiers() | {server.name}
                if not entry.matches(words) or ids & known:
                    continue  # a duplicate, or a built-in entry already shows this package
                known |= ids
                taken.add(entry.name)
                found.append(entry)
                if len(found) >= wanted:
                    break
        return found
