"""From request headers to a :class:`Principal`: API keys and bearer JWTs, as ``auth.mode`` says.

    auth = Authenticator.for_fleet(config)
    principal = await auth.authenticate(request.headers)   # or AuthenticationError -> 401

Credentials are read from ``Authorization: Bearer <credential>`` or ``X-API-Key: <key>``. A
bearer credential that starts with ``mcpf_`` is an API key, anything else a JWT. Modes:

- unset or ``none``: nobody is asked; every caller is ``Principal.anonymous(anonymous_role)``
  (unset is refused off loopback, see :func:`check_exposure`);
- ``api_key``: keys made with ``mcpfleet keys create``;
- ``jwt``: tokens from an OAuth/OIDC issuer (or signed with a shared secret);
- ``api_key+jwt``: either.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.database import Database
from mcpfleet.exceptions import AuthenticationError, ConfigError
from mcpfleet.secrets import load_env_file, resolve
from mcpfleet.security.config import AuthConfig
from mcpfleet.security.jwt import JwtVerifier, claim_strings
from mcpfleet.security.keys import KEY_PREFIX, ApiKeyStore
from mcpfleet.security.principal import Principal

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

__all__ = ["Authenticator"]

RECENT = 5.0  # seconds a checked credential is trusted without checking it again
MAX_RECENT = 10_000


class Authenticator:
    """Turns request headers into a :class:`Principal` or raises :class:`AuthenticationError`."""

    def __init__(
        self,
        config: AuthConfig,
        *,
        keys: ApiKeyStore | None = None,
        jwt: JwtVerifier | None = None,
        clock: Clock | None = None,
    ) -> None:
        if config.accepts_api_keys and keys is None:
            raise ConfigError(f"auth.mode {config.mode} needs an ApiKeyStore for the fleet database")
        if config.accepts_jwt and jwt is None:
            raise ConfigError(f"auth.mode {config.mode} needs a JwtVerifier")
        self.config = config
        self.keys = keys
        self.jwt = jwt
        self._clock = clock or MonotonicClock()
        self._anonymous = Principal.anonymous(config.anonymous_role)
        # Credentials seen in the last RECENT seconds (never past their expiry): a client sends
        # the same one with every request, and checking it again (a hash, or a signature) each
        # time is the bulk of authentication's cost. Revocation is seen within RECENT seconds
        # more than the key store's own cache time.
        self._recent: dict[str, tuple[Principal, float]] = {}

    @classmethod
    def for_fleet(
        cls,
        fleet: FleetConfig,
        *,
        database: Database | None = None,
        environ: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> Authenticator:
        """The authenticator ``fleet.auth`` describes; resolves ``auth.jwt.secret`` from the env."""
        config = fleet.auth
        keys = jwt = None
        if config.accepts_api_keys:
            keys = ApiKeyStore(
                database or Database.for_fleet(fleet), cache_ttl=config.api_key_cache_ttl, clock=clock
            )
        if config.jwt is not None and config.accepts_jwt:
            secret = None
            if config.jwt.secret is not None:
                variables = {**load_env_file(fleet.env_file), **(os.environ if environ is None else environ)}
                secret = resolve(config.jwt.secret, variables, where="auth.jwt.secret")
            jwt = JwtVerifier(config.jwt, audience=config.audience, secret=secret, http=http, clock=clock)
        return cls(config, keys=keys, jwt=jwt, clock=clock)

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller of a request with these headers (any Mapping; Starlette's ``Headers`` works)."""
        if self.config.mode in (None, "none"):
            return self._anonymous
        credential = _credential(headers)
        now = self._clock.monotonic()
        recent = self._recent.get(credential)
        if recent is not None and recent[1] > now:
            return recent[0]
        principal = await self._verify(credential)
        until = now + RECENT
        if principal.expires_at is not None:
            until = min(until, now + (principal.expires_at - datetime.now(UTC)).total_seconds())
        if len(self._recent) >= MAX_RECENT:
            self._recent.clear()  # many distinct credentials at once: start over, stay bounded
        self._recent[credential] = (principal, until)
        return principal

    def forget(self, key_id: str) -> None:
        """Stop trusting the API key ``key_id`` from memory (it was just revoked in this process)."""
        for credential, (principal, _) in list(self._recent.items()):
            if principal.key_id == key_id:
                del self._recent[credential]

    async def _verify(self, credential: str) -> Principal:
        if credential.startswith(KEY_PREFIX):
            if self.keys is None:
                raise AuthenticationError(
                    "API keys are not accepted here (auth.mode is jwt); send an OAuth bearer token"
                )
            return await self.keys.averify(credential)
        if self.jwt is None:
            raise AuthenticationError(
                f"only mcpfleet API keys ({KEY_PREFIX}...) are accepted here; create one with "
                "`mcpfleet keys create --name NAME --role ROLE`"
            )
        principal = self.principal_from_claims(await self.jwt.verify(credential))
        return dataclasses.replace(principal, token=credential)  # for token exchange upstream

    def principal_from_claims(self, claims: Mapping[str, Any]) -> Principal:
        """A verified token's principal: name from ``sub`` (or ``azp``/``client_id``), roles from
        ``jwt.roles_claim`` (``default_role`` when it holds none), scopes from ``scope``/``scp``."""
        roles_claim = self.config.jwt.roles_claim if self.config.jwt is not None else "roles"
        roles = claim_strings(claims, roles_claim)
        if not roles and self.config.default_role:
            roles = (self.config.default_role,)
        name = next((str(claims[c]) for c in ("sub", "azp", "client_id") if claims.get(c)), "unnamed")
        scopes = claim_strings(claims, "scope") or claim_strings(claims, "scp")
        exp = claims.get("exp")
        expires = datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None
        return Principal(name, roles, "jwt", scopes=scopes, expires_at=expires)

    async def aclose(self) -> None:
        if self.jwt is not None:
            await self.jwt.aclose()


def _credential(headers: Mapping[str, str]) -> str:
    lowered = {k.lower(): v for k, v in headers.items() if k.lower() in ("authorization", "x-api-key")}
    authorization = lowered.get("authorization", "").strip()
    api_key = lowered.get("x-api-key", "").strip()
    if authorization and api_key:
        raise AuthenticationError("send one credential: either Authorization or X-API-Key, not both")
    if api_key:
        return api_key
    if not authorization:
        raise AuthenticationError(
            "authentication required: send Authorization: Bearer <token> or X-API-Key: <key>",
            token_given=False,
        )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(f"use Authorization: Bearer <token>, not the {scheme!r} scheme")
    return token.strip()
