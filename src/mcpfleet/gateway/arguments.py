"""A tool call's arguments against the tool's ``inputSchema``, checked before any instance sees them.

Only what is certain and cheap: required properties present, and top-level properties of the
JSON types the schema names. A call that fails gets a tool error (``isError``) saying what is
wrong, so a model can correct itself (SEP-1303); the server's own validation does the rest.
"""

from __future__ import annotations

from collections.abc import Callable
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
    """What is wrong with ``arguments`` for ``schema`` (empty when nothing certain is).

    Each schema is read once into a check kept while the schema object lives (a tool's
    ``inputSchema`` from its server's list): the gateway asks this on every call."""
    entry = _checks.get(id(schema))
    if entry is None or entry[0] is not schema:
        if len(_checks) >= _MAX_CHECKS:
            _checks.clear()
        entry = _checks[id(schema)] = (schema, _compile(schema))  # the schema held: its id stays its own
    return entry[1](arguments)


Check = Callable[[dict[str, Any]], list[str]]
_checks: dict[int, tuple[Any, Check]] = {}
_MAX_CHECKS = 4096


def _nothing(arguments: dict[str, Any]) -> list[str]:
    return []


def _compile(schema: Any) -> Check:
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return _nothing
    listed = schema.get("required")
    required = [name for name in listed if isinstance(name, str)] if isinstance(listed, list) else []
    typed: dict[str, tuple[list[Any], tuple[str, ...]]] = {}  # name -> (its types as given, the names)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, declared in properties.items():
            kind = declared.get("type") if isinstance(declared, dict) else None
            kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
            if kinds:
                typed[name] = (kinds, tuple(k for k in kinds if isinstance(k, str)))
    if not required and not typed:
        return _nothing

    def check(arguments: dict[str, Any]) -> list[str]:
        problems = []
        if required:
            missing = [name for name in required if name not in arguments]
            if missing:
                problems.append(f"missing required argument(s): {', '.join(missing)}")
        if typed:
            for name, value in arguments.items():
                kinds = typed.get(name)
                if kinds is not None and not any(_is(value, k) for k in kinds[1]):
                    wanted = " or ".join(map(str, kinds[0]))
                    problems.append(f"argument {name!r} must be {wanted}, not {_json_type(value)}")
        return problems

    return check


def _json_type(value: Any) -> str:
    for name, types in _TYPES.items():
        if isinstance(value, types) and not (isinstance(value, bool) and name in ("integer", "number")):
            return name
    return type(value).__name__
