"""The calling principal's own headers for one upstream server, set for the task that forwards.

The gateway fills in a remote server's per-caller headers (``Authorization: "Bearer
${user:github_token}"``, or a token from an RFC 8693 exchange) before it forwards a call, and
sets :data:`caller_headers` for that task; the HTTP transport of that server adds them to the
request it sends. Header templates with ``${user:...}`` are never sent as they are: a request
made for no caller (the session's handshake, a health probe, a list the gateway caches) goes
without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

__all__ = ["caller_headers", "is_per_caller"]

# server name -> the caller's headers for it (values are secrets: never log this)
caller_headers: ContextVar[Mapping[str, Mapping[str, str]] | None] = ContextVar(
    "mcpfleet_caller_headers", default=None
)


def is_per_caller(value: str) -> bool:
    """Whether a header value is a per-caller template (``${user:NAME}``), filled in per call."""
    return "${user:" in value
