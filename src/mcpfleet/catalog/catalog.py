"""``Catalog``: what can be installed, from the built-in list and the MCP registry."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import httpx

from mcpfleet.catalog.builtin import BUILTIN
from mcpfleet.catalog.registry import DEFAULT_REGISTRY, RegistryClient
from mcpfleet.catalog.schema import Argument, Package, ServerJson
from mcpfleet.config import NpmPackage, OciPackage, PypiPackage, RemotePackage, ServerSpec
from mcpfleet.exceptions import CatalogError, RegistryError, UnknownServerError

__all__ = ["Catalog", "CatalogEntry"]

log = logging.getLogger("mcpfleet.catalog")
_RUNNABLE = ("npm", "pypi", "oci")


def short_name(registry_name: str) -> str:
    """``io.github.acme/weather-mcp`` -> ``weather-mcp`` (a valid fleet server name)."""
    tail = registry_name.rsplit("/", 1)[-1].lower()
    name = re.sub(r"[^a-z0-9_-]+", "-", tail).strip("-_")
    return name[:63] or "server"


def _args(arguments: list[Argument]) -> list[str]:
    out: list[str] = []
    for arg in arguments:
        value = arg.value if arg.value is not None else arg.default
        if arg.type == "named" and arg.name:
            out += [arg.name] if value is None else [arg.name, value]
        elif value is not None:
            out.append(value)
    return out


@dataclass(frozen=True)
class CatalogEntry:
    """One installable server: its short ``name``, other ``aliases``, and its ``server.json``."""

    name: str
    aliases: tuple[str, ...]
    server: ServerJson
    source: Literal["builtin", "registry"]

    @property
    def description(self) -> str:
        return self.server.description

    def package(self) -> Package | None:
        """The package mcpfleet would install: npm, then PyPI, then OCI, stdio ones only."""
        usable = [
            p for p in self.server.packages if p.registry_type in _RUNNABLE and p.transport.type == "stdio"
        ]
        return min(usable, key=lambda p: _RUNNABLE.index(p.registry_type), default=None)

    def required_env(self) -> list[str]:
        package = self.package()
        variables = package.environment_variables if package else []
        if package is None and self.server.remotes:
            return sorted(
                set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", str(self.to_server_spec().headers)))
            )
        return [v.name for v in variables if v.is_required and v.default is None]

    def to_server_spec(self) -> ServerSpec:
        """A fleet server for this entry; secrets stay ``${NAME}`` references."""
        package = self.package()
        if package is None:
            if not self.server.remotes:
                kinds = ", ".join(sorted({p.registry_type for p in self.server.packages})) or "none"
                raise CatalogError(
                    f"{self.name}: no package mcpfleet can run (it offers {kinds}; mcpfleet runs npm, "
                    "PyPI and OCI packages over stdio, and remote URLs)"
                )
            remote = self.server.remotes[0]
            headers = {h.name: h.value or f"${{{h.name.upper().replace('-', '_')}}}" for h in remote.headers}
            return ServerSpec(
                package=RemotePackage(url=remote.url), headers=headers, description=self.description
            )
        env: dict[str, str] = {}
        for var in package.environment_variables:
            if var.default is not None:
                env[var.name] = var.default if "${" in var.default else f"${{{var.name}:-{var.default}}}"
            elif var.is_required:
                env[var.name] = f"${{{var.name}}}"
        args = _args(package.package_arguments)
        spec_package: NpmPackage | PypiPackage | OciPackage
        if package.registry_type == "npm":
            spec_package = NpmPackage(name=package.identifier, version=package.version)
        elif package.registry_type == "pypi":
            spec_package = PypiPackage(name=package.identifier, version=package.version)
        else:
            image, _, tag = package.identifier.partition(":")
            spec_package = OciPackage(
                image=image, version=tag or package.version, run_args=_args(package.runtime_arguments)
            )
        return ServerSpec(package=spec_package, args=args, env=env, description=self.description)


class Catalog:
    """The built-in catalog first, then the registry at ``registry_url``."""

    def __init__(
        self,
        registry_url: str = DEFAULT_REGISTRY,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.registry = RegistryClient(registry_url, timeout=timeout, transport=transport)
        self.last_registry_error: str | None = None
        self._builtin = [CatalogEntry(n, a, s, "builtin") for n, (a, s) in BUILTIN.items()]
        self._by_name = {name: e for e in self._builtin for name in (e.name, *e.aliases)}

    def builtin(self) -> list[CatalogEntry]:
        return list(self._builtin)

    def names(self) -> list[str]:
        return list(self._by_name)

    async def resolve(self, name: str) -> CatalogEntry:
        """A built-in name or alias, or a registry name (``io.github.owner/server``)."""
        entry = self._by_name.get(name.lower())
        if entry is not None:
            return entry
        if "/" in name:
            server = await self.registry.get_server(name)
            if server is not None:
                return CatalogEntry(short_name(server.name), (server.name,), server, "registry")
        raise UnknownServerError(name, self.names(), where="the catalog")

    async def search(
        self, query: str, *, limit: int = 30, include_registry: bool = True
    ) -> list[CatalogEntry]:
        """Built-in entries whose name, aliases, package or description match, then the registry's."""
        words = query.lower().split()

        def matches(entry: CatalogEntry) -> bool:
            package = entry.package()
            text = " ".join(
                [entry.name, *entry.aliases, entry.description, package.identifier if package else ""]
            ).lower()
            return all(w in text for w in words)

        found = [e for e in self._builtin if matches(e)]
        self.last_registry_error = None
        if include_registry and len(found) < limit:
            known = {p.identifier for e in found if (p := e.package())}
            try:
                async for server in self.registry.iter_servers(query or None, max_items=limit * 2):
                    entry = CatalogEntry(short_name(server.name), (server.name,), server, "registry")
                    package = entry.package()
                    if package is not None and package.identifier in known:
                        continue  # the built-in entry already shows this package
                    found.append(entry)
                    if len(found) >= limit:
                        break
            except RegistryError as exc:
                self.last_registry_error = str(exc)
                log.warning("%s", exc)
        return found[:limit]
