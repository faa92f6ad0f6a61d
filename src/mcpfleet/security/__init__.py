"""Who may call the fleet, and what they may do: API keys, JWTs, roles and permissions.

The gateway, per request:

    from mcpfleet.security import AccessControl, Authenticator, Permission

    auth = Authenticator.for_fleet(config)              # config.auth
    access = AccessControl.from_config(config.access)
    principal = await auth.authenticate(request.headers)
    access.require(principal, "filesystem", "read_file")  # PermissionDeniedError says what is missing
"""

from __future__ import annotations

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
