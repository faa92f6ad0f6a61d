"""Secure by default: a gateway other machines can reach must ask who is calling."""

from __future__ import annotations

import ipaddress

from mcpfleet.exceptions import ConfigError
from mcpfleet.security.config import AuthConfig

__all__ = ["check_exposure", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only: 127.0.0.0/8, ::1 or localhost."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name (or 0.0.0.0's cousins) may resolve to anything


def check_exposure(gateway_host: str, auth_config: AuthConfig) -> None:
    """Refuse to serve beyond loopback without authentication, unless ``auth: none`` says so.

    Raises :class:`ConfigError` explaining what to write in the fleet file.
    """
    if auth_config.mode is not None or is_loopback(gateway_host):
        return
    raise ConfigError(
        f"The gateway would listen on {gateway_host!r}, which other machines can reach, and the fleet "
        "asks no one who they are. Add one of these to mcpfleet.yaml:\n"
        "  auth: {mode: api_key}     # then: mcpfleet keys create --name NAME --role ROLE\n"
        "  auth: {mode: jwt, resource: https://HOST/mcp, jwt: {issuer: https://YOUR-ISSUER}}\n"
        "  auth: none                # no authentication, on purpose (a trusted network only)\n"
        "or listen on loopback only: gateway: {host: 127.0.0.1}"
    )
