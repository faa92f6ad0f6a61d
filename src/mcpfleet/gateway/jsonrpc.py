"""JSON-RPC on the gateway's wire: error codes, error replies and the protocol revisions it speaks."""

from __future__ import annotations

from typing import Any

__all__ = [
    "HEADER_MISMATCH",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LOG_LEVELS",
    "META_PREFIX",
    "METHOD_NOT_FOUND",
    "MISSING_CLIENT_CAPABILITY",
    "MODERN",
    "PARSE_ERROR",
    "REMOVED_IN_MODERN",
    "SERVER_UNAVAILABLE",
    "SUPPORTED_SESSION_VERSIONS",
    "UNSUPPORTED_PROTOCOL_VERSION",
    "RpcError",
    "error_reply",
    "is_modern",
    "tool_error",
    "with_request_id",
]

MODERN = "2026-07-28"
SUPPORTED_SESSION_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
META_PREFIX = "io.modelcontextprotocol/"
# Session-protocol methods that 2026-07-28 removed: a stateless client gets "method not found".
REMOVED_IN_MODERN = frozenset(
    {"initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"}
)

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
UNSUPPORTED_PROTOCOL_VERSION = -32022
SERVER_UNAVAILABLE = -32000  # implementation-defined: the server behind this name cannot answer now
HEADER_MISMATCH, MISSING_CLIENT_CAPABILITY = -32020, -32021
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def is_modern(message: dict[str, Any], header_version: str | None = None) -> bool:
    """Whether a message speaks the stateless 2026-07-28 protocol (its envelope or header says so)."""
    if message.get("method") == "server/discover" or header_version == MODERN:
        return True
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and META_PREFIX + "protocolVersion" in meta


def error_reply(msg_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": error}


def with_request_id(data: Any, rid: str) -> Any:
    """Error data with our request id added where that keeps its shape (an object, or none)."""
    if data is None:
        return {"requestId": rid}
    if isinstance(data, dict):
        return {**data, "requestId": rid}
    return data


def tool_error(text: str) -> dict[str, Any]:
    """A tool result the model reads as a failure (``isError``), not a protocol error."""
    return {"content": [{"type": "text", "text": text}], "isError": True}


class RpcError(Exception):
    """A request the gateway itself refuses, answered as a JSON-RPC error."""

    error_type = "invalid_request"  # how metrics and traces name it

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
