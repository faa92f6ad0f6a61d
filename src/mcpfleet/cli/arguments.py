"""Tool arguments from the command line: ``key=value`` pairs and/or one JSON object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mcpfleet.exceptions import FleetError

__all__ = ["ArgumentError", "parse_tool_arguments"]


class ArgumentError(FleetError):
    """Tool arguments given on the command line could not be understood."""


def _value(text: str) -> Any:
    """JSON where it parses (numbers, true, null, lists, objects), else the plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_tool_arguments(pairs: Sequence[str], json_text: str | None = None) -> dict[str, Any]:
    """``["a=1", "name=Ada", 'tags=["x"]']`` and/or ``'{"a": 1}'`` into one arguments object.

    A value that should stay a string although it looks like JSON is quoted: ``id='"007"'``.
    ``key:=text`` always takes the text as a string.
    """
    arguments: dict[str, Any] = {}
    if json_text:
        try:
            loaded = json.loads(json_text)
        except json.JSONDecodeError as exc:
            raise ArgumentError(f"--json is not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(loaded, dict):
            raise ArgumentError('--json must be a JSON object, e.g. \'{"path": "/tmp"}\'')
        arguments.update(loaded)
    for pair in pairs:
        if pair.startswith("{"):
            arguments.update(parse_tool_arguments([], pair))
            continue
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ArgumentError(f"argument {pair!r} must look like key=value (or pass a JSON object)")
        if key.endswith(":"):
            arguments[key[:-1]] = raw
        else:
            arguments[key] = _value(raw)
    return arguments
