"""Who may call the fleet, and what they may do: API keys, JWTs, roles and permissions.

The gateway, per request:

    from mcpfleet.security import AccessControl, Authenticator, Permission

    auth = Authenticator.for_fleet(config)              # config.auth
    access = AccessControl.from_config(config.access)
    principal = await auth.authenticate(request.headers)
    access.require(principal, "filesystem", "read_file")  # PermissionDeniedError says what is missing
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpfleet.exports import lazy_exports

if TYPE_CHECKING:
    from mcpfleet.security.access import AccessControl
    from mcpfleet.security.auth import Authenticator
    from mcpfleet.security.config import AccessConfig, AuthConfig, JwtConfig
    from mcpfleet.security.exposure import check_exposure
    from mcpfleet.security.jwt import JwtVerifier
    from mcpfleet.security.keys import ApiKeyInfo, ApiKeyStore
    from mcpfleet.security.permissions import Permission
    from mcpfleet.security.principal import Principal

__all__ = [
    "AccessConfig",
    "AccessControl",
    "ApiKeyInfo",
    "ApiKeyStore",
    "AuthConfig",
    "Authenticator",
    "JwtConfig",
    "JwtVerifier",
    "Permission",
    "Principal",
    "check_exposure",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "mcpfleet.security.access": ["AccessControl"],
        "mcpfleet.security.auth": ["Authenticator"],
        "mcpfleet.security.config": ["AccessConfig", "AuthConfig", "JwtConfig"],
        "mcpfleet.security.exposure": ["check_exposure"],
        "mcpfleet.security.jwt": ["JwtVerifier"],
        "mcpfleet.security.keys": ["ApiKeyInfo", "ApiKeyStore"],
        "mcpfleet.security.permissions": ["Permission"],
        "mcpfleet.security.principal": ["Principal"],
    },
)
