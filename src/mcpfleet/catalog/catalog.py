"""``Catalog``: what can be installed, from the built-in list first and then the MCP registry.

    catalog = Catalog()                                   # or Catalog(config.registry_url)
    entry = await catalog.resolve("postgres")             # a built-in name or alias
    entry.required_env()                                  # ['POSTGRES_URL']
    spec = entry.to_server_spec()                         # args: ['${POSTGRES_URL}']
    found = await catalog.search("weather", limit=10)     # built-in matches, then the registry's
    catalog.last_source                                   # who answered for the registry part

Built-in names never need the network. Registry names (``io.github.acme/weather``) come from the
fleet's registry mirror once ``mcpfleet catalog sync`` has filled it (offline, see
:mod:`mcpfleet.catalog.mirror`), else from the registry itself. ``catalog.allow`` / ``catalog.deny``
in the fleet file decide which registry names are offered, whichever answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

import httpx
from anyio import to_thread
from sqlalchemy.exc import SQLAlchemyError

from mcpfleet.catalog.builtin import builtin_servers
from mcpfleet.catalog.convert import oci_reference, required_variables, runnable_packages, to_server_spec
from mcpfleet.catalog.curation import Curation
from mcpfleet.catalog.mirror import MirrorState, RegistryMirror
from mcpfleet.catalog.registry import DEFAULT_REGISTRY, MAX_PAGE_SIZE, RegistryClient
from mcpfleet.catalog.schema import Package, ServerJson
from mcpfleet.config import ServerSpec
from mcpfleet.exceptions import CatalogError, RegistryError, UnknownServerError

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

__all__ = ["Catalog", "CatalogEntry"]

log = logging.getLogger("mcpfleet.catalog")
T = TypeVar("T")


@dataclass(frozen=True)
class CatalogEntry:
    """One installable server: its short ``name`` (a valid fleet server name), other ``aliases``
    (for a registry entry, its full registry name), and its ``server.json``."""

    name: str
    aliases: tuple[str, ...]
    server: ServerJson = field(hash=False)
    source: Literal["builtin", "registry", "mirror"]

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
    """The built-in catalog, then the registry: from ``mirror`` once it has been synced, else from
    the MCP registry at ``registry_url`` (no request until one is needed). ``curation`` picks which
    registry names are offered."""

    def __init__(
        self,
        registry_url: str = DEFAULT_REGISTRY,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        mirror: RegistryMirror | None = None,
        curation: Curation | None = None,
    ) -> None:
        self.registry = RegistryClient(registry_url, timeout, transport)
        self.mirror = mirror
        self.curation = curation or (mirror.curation if mirror is not None else Curation())
        self.last_registry_error: str | None = None
        self.last_source = "built-in catalog"  # who answered the last search or resolve
        self._builtin = [CatalogEntry(n, a, s, "builtin") for n, a, s in builtin_servers()]
        self._by_name = {name: e for e in self._builtin for name in (e.name, *e.aliases)}

    @classmethod
    def for_fleet(cls, config: FleetConfig) -> Catalog:
        """The catalog a fleet file describes: its ``registry_url``, mirror and curation lists."""
        mirror = RegistryMirror.for_fleet(config) if config.catalog.mirror else None
        curation = Curation.of(config.catalog.allow, config.catalog.deny)
        return cls(config.registry_url, mirror=mirror, curation=curation)

    async def _ask_mirror(self, ask: Callable[[RegistryMirror], T]) -> tuple[MirrorState, T] | None:
        """``ask(mirror)`` and the mirror's state, in one trip to a worker thread; None when the
        mirror does not answer for the registry (off, never synced, or its database down)."""
        mirror = self.mirror
        if mirror is None:
            return None

        def both() -> tuple[MirrorState, T] | None:
            state = mirror.state()
            return None if state is None else (state, ask(mirror))

        try:
            return await to_thread.run_sync(both)
        except SQLAlchemyError as exc:
            log.warning("the registry mirror cannot be read (%s); asking the registry instead", exc)
            return None

    def _mirrored(self, state: MirrorState) -> str:
        return f"the fleet's registry mirror (synced {state.synced_at[:19]}Z from {state.source})"

    def builtin(self) -> list[CatalogEntry]:
        """Every built-in entry."""
        return list(self._builtin)

    def names(self) -> list[str]:
        """Every built-in name and alias."""
        return list(self._by_name)

    def _registry_entry(
        self, server: ServerJson, taken: Iterable[str], source: Literal["registry", "mirror"] = "registry"
    ) -> CatalogEntry:
        return CatalogEntry(short_name(server.name, taken), (server.name,), server, source)

    async def resolve(self, name: str) -> CatalogEntry:
        """A built-in name or alias; else, for a registry name (``io.github.acme/weather``), its
        latest version, from the mirror once synced, else from the registry. Raises
        :class:`UnknownServerError`, :class:`CatalogError` for a name the fleet's curation leaves
        out, or :class:`RegistryError` when the registry cannot be asked."""
        entry = self._by_name.get(name.strip().lower())
        if entry is not None:
            self.last_source = "built-in catalog"
            return entry
        name = name.strip()
        if "/" not in name:
            raise UnknownServerError(name, self.names(), where="the catalog")
        if not self.curation.allows(name):
            raise CatalogError(
                f"{name} is not offered by this fleet: catalog.allow / catalog.deny in the fleet file leave "
                "it out; change them to use it"
            )
        answer = await self._ask_mirror(lambda mirror: mirror.get(name))
        if answer is not None:
            state, item = answer
            self.last_source = self._mirrored(state)
            if item is not None:
                return self._registry_entry(ServerJson.model_validate(item.server), self._by_name, "mirror")
            where = f"the catalog or {self.last_source}; run `mcpfleet catalog sync` to refresh it"
            raise UnknownServerError(name, self.names(), where=where)
        self.last_source = f"the MCP registry at {self.registry.base_url}"
        server = await self.registry.get_server(name)
        if server is not None:
            return self._registry_entry(server, self._by_name)
        where = f"the catalog or the MCP registry at {self.registry.base_url}"
        raise UnknownServerError(name, self.names(), where=where)

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
        self.last_source = "built-in catalog"
        if include_registry and words and len(found) < limit:
            answer = await self._ask_mirror(lambda mirror: mirror.search(words, limit + len(found)))
            if answer is not None:
                state, items = answer
                self.last_source = f"built-in catalog and {self._mirrored(state)}"
                servers = [ServerJson.model_validate(i.server) for i in items]
                return found + self._merge(servers, words, limit - len(found), found, "mirror")
            self.last_source = f"built-in catalog and the MCP registry at {self.registry.base_url}"
            try:
                found += await self._search_registry(words, limit - len(found), found)
            except RegistryError as exc:
                self.last_registry_error = str(exc)
                self.last_source = "built-in catalog"
                log.info("%s", exc)  # callers show last_registry_error themselves
        return found

    def _merge(
        self,
        servers: Iterable[ServerJson],
        words: list[str],
        wanted: int,
        shown: list[CatalogEntry],
        source: Literal["registry", "mirror"],
    ) -> list[CatalogEntry]:
        """Registry servers as entries: offered, matching every word, none a package already shown."""
        known = set().union(*(e.identifiers() for e in shown)) | {e.server.name for e in shown}
        taken = set(self._by_name) | {e.name for e in shown}
        found: list[CatalogEntry] = []
        for server in servers:
            if len(found) >= wanted:
                break
            entry = self._registry_entry(server, taken, source)
            ids = entry.identifiers() | {server.name}
            if not self.curation.allows(server.name) or not entry.matches(words) or ids & known:
                continue  # not offered, or a built-in entry already shows this package
            known |= ids
            taken.add(entry.name)
            found.append(entry)
        return found

    async def _search_registry(
        self, words: list[str], wanted: int, shown: list[CatalogEntry]
    ) -> list[CatalogEntry]:
        # The registry matches one substring of the name; the other words are checked here.
        term = max(words, key=len)
        found: list[CatalogEntry] = []
        servers = self.registry.iter_servers(term, page_size=MAX_PAGE_SIZE, max_items=max(100, wanted * 5))
        async with aclosing(servers):
            async for server in servers:
                found += self._merge([server], words, 1, [*shown, *found], "registry")
                if len(found) >= wanted:
                    break
        return found
