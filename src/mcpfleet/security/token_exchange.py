"""OAuth 2.0 Token Exchange (RFC 8693): a JWT caller's token traded for one scoped to a server.

A remote server that trusts the same identity provider wants a token issued *for it*
(its own audience), not the token the caller showed the gateway. With

    servers:
      github:
        package: {type: remote, url: "https://mcp.example.com/mcp"}
        token_exchange:
          token_endpoint: https://idp.example.com/oauth2/token
          client_id: mcpfleet-gateway
          client_secret: ${TOKEN_EXCHANGE_SECRET}
          audience: https://mcp.example.com
          scope: repo:read

the gateway posts the caller's token to ``token_endpoint`` (``grant_type=
urn:ietf:params:oauth:grant-type:token-exchange``, the client authenticated with HTTP Basic)
and sends the token it gets back as ``Authorization: Bearer ...`` to the server. Tokens are
cached per caller until ``expires_in`` minus ``skew`` seconds; a caller that did not come with a
JWT (an API key) cannot be exchanged, and is told so.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.exceptions import FleetError
from mcpfleet.models import ConfigModel

if TYPE_CHECKING:
    import httpx


__all__ = ["TOKEN_EXCHANGE_GRANT", "TokenExchangeConfig", "TokenExchangeError", "TokenExchanger"]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
MAX_CACHED = 10_000


class TokenExchangeConfig(ConfigModel):
    """Where and how a remote server's per-caller token is obtained (RFC 8693)."""

    token_endpoint: str = Field(pattern=r"^https?://", description="the authorization server's token URL")
    client_id: str = Field(min_length=1, description="the gateway's client id there (may be ${VAR})")
    client_secret: str | None = Field(
        None, description="its client secret, written as ${VAR} or ${file:path}; unset: a public client"
    )
    audience: str | None = Field(None, description="the `audience` asked for: the server's identifier")
    resource: str | None = Field(None, description="the `resource` asked for: the server's URL (RFC 8707)")
    scope: str | None = Field(None, description="space-separated scopes asked for")
    header: str = Field("Authorization", description="the header the token is sent in, as `Bearer <token>`")
    skew: float = Field(30.0, ge=0, description="seconds before its expiry a cached token is renewed")
    default_lifetime: float = Field(300.0, gt=0, description="seconds a token without `expires_in` is cached")
    timeout: float = Field(10.0, gt=0, description="seconds the token endpoint may take")


class TokenExchangeError(FleetError):
    """The token endpoint refused, or could not be reached; says which and what to check."""


@dataclass
class _Cached:
    token: str
    until: float


class TokenExchanger:
    """Exchanges callers' tokens for one server, with a cache per caller.

    ``client_secret`` is the resolved secret (the config holds only its reference).
    """

    def __init__(
        self,
        server: str,
        config: TokenExchangeConfig,
        *,
        client_id: str,
        client_secret: str | None,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.server = server
        self.config = config
        self._auth: tuple[str | bytes, str | bytes] = (client_id, client_secret or "")
        self._public = client_secret is None
        self._client_id = client_id
        self._http = http
        self.clock = clock or MonotonicClock()
        self._cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def token(self, principal: str, subject_token: str) -> str:
        """A token for ``principal`` to send to the server: cached, or exchanged now."""
        key = (principal, hashlib.sha256(subject_token.encode()).hexdigest())
        cached = self._cache.get(key)
        if cached is not None and cached.until > self.clock.monotonic():
            return cached.token
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one exchange per caller at a time; the others wait for its token
            cached = self._cache.get(key)
            if cached is not None and cached.until > self.clock.monotonic():
                return cached.token
            token, lifetime = await self._exchange(subject_token)
            self._cache[key] = _Cached(token, self.clock.monotonic() + max(0.0, lifetime - self.config.skew))
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_CACHED:
                old, _ = self._cache.popitem(last=False)
                self._locks.pop(old, None)
        return token

    def header(self, token: str) -> dict[str, str]:
        return {self.config.header: f"Bearer {token}"}

    async def _exchange(self, subject_token: str) -> tuple[str, float]:
        import httpx

        config = self.config
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
        }
        for name in ("audience", "resource", "scope"):
            value = getattr(config, name)
            if value:
                form[name] = value
        auth: dict[str, Any] = {"auth": self._auth}  # client_secret_basic (RFC 6749 2.3.1)
        if self._public:
            form["client_id"] = self._client_id
            auth = {}
        where = f"token exchange for {self.server} at {config.token_endpoint}"
        try:
            if self._http is not None:
                response = await self._http.post(
                    config.token_endpoint, data=form, timeout=config.timeout, **auth
                )
            else:
                async with httpx.AsyncClient(timeout=config.timeout) as http:
                    response = await http.post(config.token_endpoint, data=form, **auth)
        except httpx.HTTPError as exc:
            raise TokenExchangeError(
                f"{where} failed: {type(exc).__name__}; check that the endpoint is up and reachable"
            ) from None
        body = _json(response)
        if response.status_code != 200:
            error = str(body.get("error", "")) or "no error code"
            detail = str(body.get("error_description", ""))[:200]
            raise TokenExchangeError(
                f"{where} was refused: HTTP {response.status_code} {error}"
                + (f" ({detail})" if detail else "")
                + "; check the server's token_exchange settings and the caller's rights there"
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenExchangeError(f"{where} answered without an access_token; is it an RFC 8693 endpoint?")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else config.default_lifetime
        return token, lifetime

    async def aclose(self) -> None:
        self._cache.clear()


def _json(response: httpx.Response) -> Mapping[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
