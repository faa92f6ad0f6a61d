"""Verifying bearer JWTs: HS* with a shared secret, or RS*/PS*/ES*/EdDSA against the issuer's JWKS.

    verifier = JwtVerifier(JwtConfig(issuer="https://login.example.com"), audience=["https://fleet/mcp"])
    claims = await verifier.verify(token)      # AuthenticationError says why a token is refused

Only the algorithms the configuration allows are accepted, so ``alg: none`` and algorithm
confusion (an HS256 token "signed" with an RSA public key) are refused before any key is used;
each JWKS key is bound to one algorithm and its key type must fit it. The JWKS (found through
OIDC discovery when only ``issuer`` is set) is fetched on first use, again after
``jwks_max_age``, and when a token names an unknown ``kid`` (key rotation), but that last at
most once per ``jwks_refresh_interval`` seconds so forged kids cannot make us hammer the issuer.
The verification itself is synchronous and fast; only fetching awaits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.exceptions import AuthenticationError, ConfigError
from mcpfleet.security.config import JwtConfig

__all__ = ["JwtVerifier", "claim_at", "claim_strings"]

_MIN_SECRET_BYTES = 32
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "EdDSA": "Ed25519"}
_DISCOVERY = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim at a dotted ``path`` (``realm_access.roles``); a literal key with dots wins."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def claim_strings(claims: Mapping[str, Any], path: str) -> tuple[str, ...]:
    """Names (roles, scopes) in the claim at ``path``: a list of strings or a space-separated string."""
    value = claim_at(claims, path)
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()


class JwtVerifier:
    """Verifies tokens as ``config`` says; ``audience`` is required (a token must be meant for us)."""

    def __init__(
        self,
        config: JwtConfig,
        *,
        audience: Sequence[str],
        secret: str | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not audience:
            raise ConfigError("JWTs need an audience to check: set auth.jwt.audience or auth.resource")
        if config.secret is not None and secret is None:
            raise ConfigError(f"auth.jwt.secret {config.secret} must be resolved before use")
        if secret is not None and len(secret.encode()) < _MIN_SECRET_BYTES:
            raise ConfigError(
                f"auth.jwt.secret is {len(secret.encode())} bytes; HS256 needs at least "
                f"{_MIN_SECRET_BYTES} random bytes (e.g. `openssl rand -base64 48`)"
            )
        self.config = config
        self.audience = list(audience)
        self.algorithms = config.allowed_algorithms
        self._secret = secret
        self._http = http
        self._own_http = http is None
        self._clock = clock or MonotonicClock()
        self._jwks_url = config.jwks_url
        self._jwks: list[dict[str, Any]] | None = None
        self._bound: dict[tuple[str | None, str], PyJWK] = {}
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._fetch_error = "the issuer's keys were not fetched yet"
        self._generation = 0  # successful fetches; lets waiting requests skip a duplicate fetch
        self._lock = asyncio.Lock()

    @property
    def fetches(self) -> int:
        """How many times the JWKS was fetched successfully (for metrics and tests)."""
        return self._generation

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's verified claims, or :class:`AuthenticationError`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"the bearer token is not a valid JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise AuthenticationError(
                f"token algorithm {alg!r} is not accepted; this gateway accepts {', '.join(self.algorithms)}"
            )
        if self._secret is not None:
            return self.decode(token, self._secret)
        kid = header.get("kid")
        return self.decode(token, await self._public_key(kid if isinstance(kid, str) else None, alg))

    def decode(self, token: str, key: PyJWK | str) -> dict[str, Any]:
        """Check signature, ``exp`` (required), ``nbf``, ``iat``, ``aud`` and ``iss``; synchronous."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=self.algorithms, audience=self.audience,
                issuer=self.config.issuer, leeway=self.config.leeway,
                options={"require": ["exp", "aud"] + (["iss"] if self.config.issuer else [])},
            )  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired; get a new one") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError(
                "the token is not valid yet (nbf/iat in the future); check clocks"
            ) from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                f"the token is meant for another audience; request one for {self.audience[0]}"
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(
                f"the token was issued by someone else; this gateway trusts {self.config.issuer}"
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"the token is not valid: {exc}") from None
        return claims

    async def _public_key(self, kid: str | None, alg: str) -> PyJWK:
        now = self._clock.monotonic()
        if self._jwks is None or now - self._fetched_at >= self.config.jwks_max_age:
            await self._refresh(self._generation)
        key = self._find(kid, alg)
        if key is None and kid is not None:
            await self._refresh(self._generation)  # the issuer may have rotated its keys
            key = self._find(kid, alg)
        if key is not None:
            return key
        if self._jwks is None:
            raise AuthenticationError(f"tokens cannot be verified now: {self._fetch_error}")
        if kid is None:
            raise AuthenticationError(f"the token names no key (kid) and the JWKS has no single {alg} key")
        raise AuthenticationError(f"the token's key {kid!r} is not among the issuer's {alg} keys")

    def _find(self, kid: str | None, alg: str) -> PyJWK | None:
        if (kid, alg) in self._bound:
            return self._bound[(kid, alg)]
        fits = [k for k in self._jwks or () if _fits(k, alg) and (kid is None or k.get("kid") == kid)]
        if len(fits) != 1:
            return None
        try:
            key = PyJWK(fits[0], algorithm=alg)
        except jwt.PyJWTError:
            return None
        self._bound[(kid, alg)] = key
        return key

    async def _refresh(self, generation: int) -> None:
        async with self._lock:
            if self._generation != generation:
                return  # another request fetched while this one waited for the lock
            now = self._clock.monotonic()
            last = self._attempted_at
            if last is not None and now - last < self.config.jwks_refresh_interval:
                return  # rate limit: unknown kids must not make us a DoS amplifier
            self._attempted_at = now
            try:
                url = self._jwks_url or await self._discover()
                document = await self._get_json(url)
                keys = document.get("keys")
                if not isinstance(keys, list):
                    raise ValueError(f"{url} has no `keys` list")
            except (httpx.HTTPError, ValueError) as exc:
                self._fetch_error = f"fetching the issuer's keys failed: {exc}"
                return  # keep the keys we had; the next try waits jwks_refresh_interval
            self._jwks = [k for k in keys if isinstance(k, dict)]
            self._jwks_url = url
            self._bound.clear()
            self._fetched_at = self._attempted_at
            self._generation += 1

    async def _discover(self) -> str:
        issuer = (self.config.issuer or "").rstrip("/")
        for suffix in _DISCOVERY:
            try:
                document = await self._get_json(issuer + suffix)
            except httpx.HTTPStatusError:
                continue
            if document.get("issuer", "").rstrip("/") != issuer:
                raise ValueError(f"{issuer + suffix} names issuer {document.get('issuer')!r}, not {issuer}")
            if isinstance(document.get("jwks_uri"), str):
                return str(document["jwks_uri"])
        raise ValueError(f"{issuer} publishes no jwks_uri (OIDC or OAuth metadata); set auth.jwt.jwks_url")

    async def _get_json(self, url: str) -> dict[str, Any]:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        response = await self._http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        try:
            document = response.json()
        except ValueError:
            raise ValueError(f"{url} did not answer with JSON") from None
        if not isinstance(document, dict):
            raise ValueError(f"{url} did not answer with a JSON object")
        return document

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None


def _fits(jwk: dict[str, Any], alg: str) -> bool:
    """Whether a JWKS entry may verify ``alg``: a signing key of the right type, curve and alg."""
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        return False
    if jwk.get("kty") != _KEY_TYPES.get(alg[:2]):
        return False  # never an "oct" key from a JWKS: that is how algorithm confusion starts
    return alg not in _CURVES or jwk.get("crv") == _CURVES[alg]
