"""JSON-RPC on the gateway's wire: error codes, error replies and the protocol revisions it speaks."""

from __future__ import annotations

import json
from typing import Any

from mcpfleet.jsonio import fast_loads

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
    "BadMessage",
    "RpcError",
    "check_message",
    "error_reply",
    "is_modern",
    "parse",
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


MAX_DEPTH = 64  # nesting of arrays and objects in one message
MAX_ID_LENGTH = 256  # characters of a string request id


class BadMessage(Exception):
    """A message refused before it is dispatched: ``reply`` is the JSON-RPC error to send."""

    def __init__(self, code: int, message: str, msg_id: Any = None) -> None:
        super().__init__(message)
        self.reply = error_reply(msg_id, code, message)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(data: bytes | str) -> Any:
    """One JSON-RPC body: refuses what is not JSON (NaN and Infinity included) or nests too deep."""
    if not data.strip():
        raise BadMessage(PARSE_ERROR, "Parse error: the body is empty; send one JSON-RPC message")
    done, message = fast_loads(data)  # refuses NaN and Infinity too; what it refuses, json explains
    if done:
        return _shallow(data, message)
    try:
        message = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise BadMessage(PARSE_ERROR, f"Parse error: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise BadMessage(PARSE_ERROR, f"Parse error: not JSON ({exc})") from None
    return _shallow(data, message)


def _shallow(data: bytes | str, message: Any) -> Any:
    raw = data.encode() if isinstance(data, str) else data
    opened = raw.count(b"[") + raw.count(b"{")
    if opened > MAX_DEPTH and _depth(message) > MAX_DEPTH:  # counting first: most messages are shallow
        raise BadMessage(PARSE_ERROR, f"Parse error: nested deeper than {MAX_DEPTH} levels")
    return message


def _depth(value: Any) -> int:
    deepest, level = 0, [(value, 1)]
    while level:
        item, depth = level.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        if isinstance(item, dict):
            level.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            level.extend((v, depth + 1) for v in item)
    return deepest


def check_message(message: Any) -> None:
    """Refuse a message that is not a JSON-RPC 2.0 request, notification or response MCP allows."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise BadMessage(INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message object")
    if "id" in message:
        msg_id = message["id"]
        if isinstance(msg_id, bool) or not isinstance(msg_id, str | int):
            raise BadMessage(INVALID_REQUEST, "Invalid request: id must be a string or an integer")
        if isinstance(msg_id, str) and len(msg_id) > MAX_ID_LENGTH:
            raise BadMessage(
                INVALID_REQUEST, f"Invalid request: id is longer than {MAX_ID_LENGTH} characters"
            )
    method = message.get("method")
    if method is None:
        if "id" not in message or ("result" in message) == ("error" in message):
            raise BadMessage(INVALID_REQUEST, "Invalid request: no method", message.get("id"))
        return
    if not isinstance(method, str) or not method:
        raise BadMessage(
            INVALID_REQUEST, "Invalid request: method must be a non-empty string", message.get("id")
        )
    if "params" in message and not isinstance(message["params"], dict):
        raise BadMessage(INVALID_PARAMS, "Invalid params: params must be an object", message.get("id"))
