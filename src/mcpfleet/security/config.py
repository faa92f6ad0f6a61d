"""The ``auth:`` and ``access:`` sections of the fleet file.

    gateway: {host: 0.0.0.0}
    auth:
      mode: api_key+jwt              # none | api_key | jwt | api_key+jwt
      resource: https://fleet.example.com/mcp
      default_role: viewer           # for tokens that carry no role
      jwt:
        issuer: https://login.example.com/realms/ops     # jwks_uri found by OIDC discovery
        audience: https://fleet.example.com/mcp
        roles_claim: realm_access.roles
    access:
      roles:
        admin: [all]
        developer: [read, execute, list]
        viewer: [read, list]
      servers:
        filesystem: {admin: ["*"], developer: [read_file, list_directory], viewer: [list_directory]}
        "*": {developer: ["*"]}      # servers without an entry of their own

``auth`` may also be a bare mode: ``auth: none`` (serve without authentication, on purpose) or
``auth: api_key``. Leaving ``auth`` out is allowed only while the gateway listens on loopback
(see :func:`mcpfleet.security.check_exposure`).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mcpfleet.home import SERVER_NAME
from mcpfleet.models import ConfigModel
from mcpfleet.security.permissions import DEFAULT_SERVER, ROLE_NAME, Permission

__all__ = ["AccessConfig", "AuthConfig", "AuthMode", "JwtAlgorithm", "JwtConfig"]

AuthMode = Literal["none", "api_key", "jwt", "api_key+jwt"]
JwtAlgorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
]  # fmt: skip
_REFERENCE = re.compile(r"^\$\{[^}]+\}$")
_URL = r"^https?://"


class JwtConfig(ConfigModel):
    """How bearer JWTs are verified: a shared secret (HS*) or the issuer's public keys (RS*, ES*)."""

    secret: str | None = Field(
        None, description="HS* shared secret as a reference: ${VAR} or ${file:/run/secrets/jwt}"
    )
    jwks_url: str | None = Field(None, pattern=_URL, description="the issuer's JWKS; default: OIDC discovery")
    issuer: str | None = Field(None, pattern=_URL, description="required `iss`; its JWKS is discovered")
    audience: list[str] = Field(
        default_factory=list, description="accepted `aud` values; default: auth.resource"
    )
    algorithms: list[JwtAlgorithm] = Field(
        default_factory=list, description="allowed `alg`s; default: HS256 with a secret, else RS256 and ES256"
    )
    roles_claim: str = Field("roles", min_length=1, description="dotted path, e.g. realm_access.roles")
    leeway: float = Field(30.0, ge=0, le=300, description="seconds of clock skew allowed for exp/nbf/iat")
    jwks_refresh_interval: float = Field(
        60.0, ge=1, description="least seconds between JWKS fetches caused by an unknown key id"
    )
    jwks_max_age: float = Field(3600.0, ge=60, description="seconds before the JWKS is fetched again anyway")

    @field_validator("audience", mode="before")
    @classmethod
    def _one_audience(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("secret")
    @classmethod
    def _secret_is_reference(cls, value: str | None) -> str | None:
        if value is not None and not _REFERENCE.match(value):
            raise ValueError(
                "write the secret as a reference, e.g. secret: ${MCPFLEET_JWT_SECRET}, and put the "
                "value in the environment or the fleet's .env file (a literal secret would be exported)"
            )
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtConfig:
        remote = self.jwks_url is not None or self.issuer is not None
        if self.secret is not None and self.jwks_url is not None:
            raise ValueError("use either secret (HS256) or jwks_url (RS256/ES256), not both")
        if self.secret is None and not remote:
            raise ValueError("set issuer (its JWKS is discovered), jwks_url, or secret")
        symmetric = [a for a in self.algorithms if a.startswith("HS")]
        if self.secret is not None and len(symmetric) != len(self.algorithms):
            raise ValueError("with a shared secret only HS256, HS384 or HS512 can be verified")
        if self.secret is None and symmetric:
            raise ValueError(
                f"{', '.join(symmetric)} needs a shared secret; public keys from a JWKS verify "
                "RS*, PS*, ES* or EdDSA (allowing both would open algorithm confusion)"
            )
        return self

    @property
    def allowed_algorithms(self) -> list[str]:
        if self.algorithms:
            return list(self.algorithms)
        return ["HS256"] if self.secret is not None else ["RS256", "ES256"]


class AuthConfig(ConfigModel):
    """Who may call the gateway. ``mode`` unset: nobody is asked, and only loopback is allowed."""

    mode: AuthMode | None = Field(
        None, description="none | api_key | jwt | api_key+jwt; unset allows loopback only"
    )
    jwt: JwtConfig | None = None
    default_role: str | None = Field(
        None, pattern=ROLE_NAME, description="role of a token that carries none in its roles claim"
    )
    anonymous_role: str | None = Field(
        None, pattern=ROLE_NAME, description="role of every caller when mode is none"
    )
    resource: str | None = Field(
        None, pattern=_URL, description="this gateway's canonical MCP URL (RFC 9728 `resource`)"
    )
    authorization_servers: list[str] = Field(
        default_factory=list, description="OAuth authorization servers to advertise; default: jwt.issuer"
    )
    scopes_supported: list[str] = Field(default_factory=list)
    api_key_cache_ttl: float = Field(
        30.0, ge=0, le=600, description="seconds a verified key is trusted; a revocation waits this long"
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_mode(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _complete(self) -> AuthConfig:
        if self.accepts_jwt and self.jwt is None:
            raise ValueError(f"mode {self.mode} needs a jwt: section (issuer, jwks_url or secret)")
        if self.jwt is not None and not self.accepts_jwt:
            raise ValueError("a jwt: section is set but mode does not include jwt; set mode: jwt")
        if self.jwt is not None and not self.jwt.audience and self.resource is None:
            raise ValueError(
                "tokens must be checked for this gateway's audience: set jwt.audience or resource "
                "(e.g. resource: https://fleet.example.com/mcp)"
            )
        return self

    @property
    def accepts_api_keys(self) -> bool:
        return self.mode in ("api_key", "api_key+jwt")

    @property
    def accepts_jwt(self) -> bool:
        return self.mode in ("jwt", "api_key+jwt")

    @property
    def audience(self) -> list[str]:
        """The ``aud`` values a token must carry one of."""
        if self.jwt is not None and self.jwt.audience:
            return list(self.jwt.audience)
        return [self.resource] if self.resource else []


class AccessConfig(ConfigModel):
    """Roles and per-server tool grants; see :mod:`mcpfleet.security.access` for the rules.

    With no roles declared the gateway does not apply access control (:attr:`enabled`).
    """

    roles: dict[str, list[Permission]] = Field(default_factory=dict, description="role -> permissions")
    servers: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict, description='server (or "*") -> role -> tool names or glob patterns'
    )

    @field_validator("roles")
    @classmethod
    def _role_names(cls, value: dict[str, list[Permission]]) -> dict[str, list[Permission]]:
        for name in value:
            if not re.fullmatch(ROLE_NAME, name):
                raise ValueError(f"{name!r} is not a valid role name (letters, digits, '_', '-', '.', ':')")
        return value

    @model_validator(mode="after")
    def _known_names(self) -> AccessConfig:
        for server, grants in self.servers.items():
            if server != DEFAULT_SERVER and not re.fullmatch(SERVER_NAME, server):
                raise ValueError(f"servers.{server}: not a server name; use the fleet's name or '*'")
            for role in grants:
                if role not in self.roles:
                    declared = ", ".join(self.roles) or "none"
                    raise ValueError(
                        f"servers.{server}.{role}: role {role!r} is not declared under access.roles "
                        f"(declared: {declared}); declare it or fix the spelling"
                    )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.roles)
