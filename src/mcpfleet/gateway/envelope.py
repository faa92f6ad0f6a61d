"""The envelope of a 2026-07-28 (stateless) request over HTTP: what its ``_meta`` must carry, and
its routing headers (SEP-2243), which must mirror the body."""

from __future__ import annotations

from typing import Any

from mcpfleet.gateway.jsonrpc import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    META_PREFIX,
    MODERN,
    UNSUPPORTED_PROTOCOL_VERSION,
)

__all__ = ["envelope_problem", "header_problem"]


def envelope_problem(message: dict[str, Any], header_version: str | None) -> tuple[int, str, Any] | None:
    """Why a 2026-07-28 request's envelope is refused, as (JSON-RPC code, message, data), or None.

    A bare ``server/discover`` with neither ``_meta`` nor ``MCP-Protocol-Version`` stays answered:
    it is how a client that knows no version yet finds the supported ones.
    """
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    if not isinstance(meta, dict) and header_version is None:
        return None
    meta = meta if isinstance(meta, dict) else {}
    version = meta.get(META_PREFIX + "protocolVersion")
    if version is None or META_PREFIX + "clientCapabilities" not in meta:
        return (
            INVALID_PARAMS,
            f"Invalid params: {MODERN} requests carry _meta with {META_PREFIX}protocolVersion"
            f" and {META_PREFIX}clientCapabilities",
            None,
        )
    if header_version is not None and header_version.strip() != version:
        return (
            HEADER_MISMATCH,
            f"Header mismatch: MCP-Protocol-Version {header_version!r} but _meta says {version!r}",
            None,
        )
    if version != MODERN:
        return (
            UNSUPPORTED_PROTOCOL_VERSION,
            f"Unsupported protocol version: {version}",
            {"supported": [MODERN], "requested": version},
        )
    return None


_NAMED = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}  # Mcp-Name mirrors


def header_problem(message: dict[str, Any], headers: dict[str, str]) -> str | None:
    """Why a 2026-07-28 request's routing headers (SEP-2243) do not mirror its body, or None.

    Header names are case-insensitive, values exact (surrounding whitespace aside)."""
    method = message.get("method")
    sent = headers.get("mcp-method")
    if sent is None:
        return f"Header mismatch: the Mcp-Method header is required (the body says {method!r})"
    if sent.strip() != method:
        return f"Header mismatch: Mcp-Method is {sent.strip()!r} but the body's method is {method!r}"
    key = _NAMED.get(str(method))
    params = message.get("params")
    if key is not None and isinstance(params, dict) and isinstance(params.get(key), str):
        name = headers.get("mcp-name")
        if name is None:
            return f"Header mismatch: {method} needs the Mcp-Name header (params.{key})"
        if name.strip() != params[key]:
            return f"Header mismatch: Mcp-Name is {name.strip()!r} but params.{key} is {params[key]!r}"
    return None
