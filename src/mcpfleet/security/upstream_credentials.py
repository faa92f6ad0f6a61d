"""The calling principal's own credentials for remote servers: per-user header values and
exchanged tokens.

A remote server's headers may use ``${user:NAME}`` (the caller's secret ``NAME`` from the
per-principal store, :mod:`mcpfleet.security.user_secrets`), and a server with
``token_exchange:`` gets the caller's JWT exchanged for a token of its own
(:mod:`mcpfleet.security.token_exchange`). :meth:`UpstreamCredentials.headers_for` builds the
headers of one call; the gateway hands them to the server's HTTP transport through
:data:`mcpfleet.protocol.credentials.caller_headers`.

Secret values are looked up in the database at most every ``ttl`` seconds per caller, so a
``mcpfleet secrets set`` made while the gateway runs takes effect within that time. Values never
appear in errors or logs: errors name the secret and the command that sets it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.exceptions import FleetError
from mcpfleet.protocol.credentials import is_per_caller
from mcpfleet.secrets import load_env_file, resolve, resolve_all
from mcpfleet.security.token_exchange import TokenExchanger
from mcpfleet.security.user_secrets import SecretKey, UserSecretStore

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig
    from mcpfleet.database import Database
    from mcpfleet.security.principal import Principal

__all__ = ["MissingUserSecretError", "UpstreamCredentials"]

ANONYMOUS = "anonymous"
_USER_REF = re.compile(r"\$\{user:([^}]*)\}")


class MissingUserSecretError(FleetError):
    """A per-user secret a server needs is not set for the caller; names the command that sets it."""

    def __init__(self, server: str, principal: str, name: str, header: str) -> None:
        super().__init__(
            f"Server {server!r} needs the secret {name!r} of {principal!r} (for its {header} header), "
            "which is not set; an operator sets it with "
            f"`mcpfleet secrets set --principal {principal} {name}`"
        )


class NoTokenToExchangeError(FleetError):
    """A server exchanges the caller's token, and the caller came without a JWT."""


class UpstreamCredentials:
    """Builds each caller's headers for the servers that need per-caller credentials."""

    def __init__(
        self,
        templates: Mapping[str, Mapping[str, str]],
        exchangers: Mapping[str, TokenExchanger],
        store: UserSecretStore | None,
        *,
        ttl: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.templates = {s: dict(h) for s, h in templates.items() if h}
        self.exchangers = dict(exchangers)
        self.store = store
        self.ttl = ttl
        self.clock = clock or MonotonicClock()
        self._values: dict[tuple[str, str], tuple[str, float]] = {}

    @classmethod
    def for_fleet(
        cls, config: FleetConfig, database: Database, environ: Mapping[str, str]
    ) -> UpstreamCredentials | None:
        """The fleet's per-caller credentials, or None when no server uses any. Raises a
        :class:`~mcpfleet.exceptions.SecretError` when ``${user:...}`` is used and no key is set."""
        variables = {**load_env_file(config.env_file), **environ, "MCPFLEET_HOME": str(config.home_path())}
        templates: dict[str, dict[str, str]] = {}
        exchangers: dict[str, TokenExchanger] = {}
        for server, spec in config.servers.items():
            per_caller = {k: v for k, v in spec.headers.items() if is_per_caller(v)}
            if per_caller:
                where = f"servers.{server}.headers"
                templates[server] = resolve_all(per_caller, variables, where=where, keep_user=True)
            exchange = spec.token_exchange
            if exchange is not None:
                where = f"servers.{server}.token_exchange"
                secret = exchange.client_secret
                exchangers[server] = TokenExchanger(
                    server,
                    exchange,
                    client_id=resolve(exchange.client_id, variables, where=f"{where}.client_id"),
                    client_secret=None
                    if secret is None
                    else resolve(secret, variables, where=f"{where}.client_secret"),
                )
        if not templates and not exchangers:
            return None
        store = UserSecretStore(database, SecretKey.from_environ(environ)) if templates else None
        return cls(templates, exchangers, store)

    def servers(self) -> frozenset[str]:
        return frozenset(self.templates) | frozenset(self.exchangers)

    async def headers_for(self, server: str, principal: Principal | None) -> dict[str, str] | None:
        """The caller's headers for ``server`` (None: it needs none). Raises a FleetError that
        says what is missing and how to set it."""
        templates = self.templates.get(server)
        exchanger = self.exchangers.get(server)
        if templates is None and exchanger is None:
            return None
        name = principal.name if principal is not None else ANONYMOUS
        headers: dict[str, str] = {}
        if exchanger is not None:
            token = principal.token if principal is not None else None
            if not token:
                raise NoTokenToExchangeError(
                    f"Server {server!r} takes a token exchanged for the caller's own, and {name!r} did not "
                    "authenticate with a JWT; call it with an OAuth bearer token from the fleet's issuer"
                )
            headers.update(exchanger.header(await exchanger.token(name, token)))
        for header, template in (templates or {}).items():
            headers[header] = await self._render(server, name, header, template)
        return headers

    async def _render(self, server: str, principal: str, header: str, template: str) -> str:
        parts: list[str] = []
        last = 0
        for match in _USER_REF.finditer(template):
            parts.append(template[last : match.start()])
            parts.append(await self._secret(server, principal, match.group(1), header))
            last = match.end()
        parts.append(template[last:])
        return "".join(parts)  # values are put in, never read as templates themselves

    async def _secret(self, server: str, principal: str, name: str, header: str) -> str:
        key = (principal, name)
        now = self.clock.monotonic()
        cached = self._values.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        store = self.store
        value = None if store is None else await asyncio.to_thread(store.get, principal, name)
        if value is None:
            self._values.pop(key, None)
            raise MissingUserSecretError(server, principal, name, header)
        self._values[key] = (value, now + self.ttl)
        return value

    async def aclose(self) -> None:
        self._values.clear()
        for exchanger in self.exchangers.values():
            await exchanger.aclose()
