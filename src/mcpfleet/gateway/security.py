"""Host and Origin checks against DNS rebinding, as the MCP transport spec asks of local servers."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["HostOriginPolicy"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


def _hostname(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):
        return value[: value.find("]") + 1]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class HostOriginPolicy:
    """Which ``Host`` and ``Origin`` headers the gateway accepts.

    By default a gateway bound to loopback accepts only loopback host names, so a web page on
    another site cannot reach it through a DNS name that resolves to 127.0.0.1. ``allowed_hosts``
    and ``allowed_origins`` add names (``example.com``) for gateways exposed on purpose; ``*``
    turns a check off.
    """

    def __init__(self, allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()) -> None:
        self.hosts = {h.lower() for h in (*LOOPBACK_NAMES, *allowed_hosts)}
        self.origins = {o.lower().rstrip("/") for o in allowed_origins}

    def check(self, host: str | None, origin: str | None) -> tuple[int, str] | None:
        """``None`` when acceptable, else (HTTP status, reason)."""
        if "*" not in self.hosts and (not host or _hostname(host) not in self.hosts):
            return (
                421,
                f"Host {host!r} is not served here (DNS rebinding protection); add it to allowed_hosts",
            )
        if origin and "*" not in self.origins:
            origin = origin.lower().rstrip("/")
            name = _hostname(urlsplit(origin).netloc) if "://" in origin else ""
            if origin not in self.origins and name not in LOOPBACK_NAMES:
                return 403, f"Origin {origin!r} is not allowed; add it to allowed_origins"
        return None
