"""A tool call's arguments against the tool's ``inputSchema``, checked before any instance sees them.

Only what is certain and cheap: required properties present, and top-level properties of the
JSON types the schema names. A call that fails gets a tool error (``isError``) saying what is
wrong, so a model can correct itself (SEP-1303); the server's own validation does the rest.
"""

from __future__ import annotations

from typing import Any

__all__ = ["argument_problems"]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _is(value: Any, kind: str) -> bool:
    types = _TYPES.get(kind)
    if types is None:
        return True  # a type we do not check
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, types)


def argument_problems(schema: Any, arguments: dict[str, Any]) -> list[str]:
    """What is wrong with ``arguments`` for ``schema`` (empty when nothing certain is)."""
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return []
    problems = []
    required = schema.get("required")
    if isinstance(required, list):
        missing = [name for name in required if isinstance(name, str) and name not in arguments]
        if missing:
            problems.append(f"missing required argument(s): {', '.join(missing)}")
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, value in arguments.items():
            declared = properties.get(name)
            kind = declared.get("type") if isinstance(declared, dict) else None
            kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
            if kinds and not any(_is(value, k) for k in kinds if isinstance(k, str)):
                problems.append(
                    f"argument {name!r} must be {' or '.join(map(str, kinds))}, not {_json_type(value)}"
                )
    return problems


def _json_type(value: Any) -> str:
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name in ("integer", "number")):
            return name
    return type(value).__name__
