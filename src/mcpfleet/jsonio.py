"""JSON on the hot path: orjson's speed, the standard library's answers.

Every MCP message the gateway relays is decoded once and encoded once on each side; with the
standard library that is a good share of a call's CPU. :func:`loads` and :func:`dumps` use
orjson and fall back to :mod:`json` wherever orjson would answer differently: orjson refuses
what the standard library accepts (lone surrogates, ``NaN`` tokens, non-string keys, objects
it does not know), so those go through :mod:`json` as before; and it reads integers past 64
bits as floats, so a body with a run of 19 digits or more is read by :mod:`json` too.
Floats that are not finite are written as :mod:`json` writes them (``NaN``, ``Infinity``),
never as orjson's ``null``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

__all__ = ["dumps", "fast_loads", "loads"]

_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")

_STDLIB = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
# What the standard library refuses, orjson must refuse too (then the fallback raises as before).
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def fast_loads(data: bytes | str) -> tuple[bool, Any]:
    """``(True, value)`` when orjson reads ``data`` exactly as :func:`json.loads` would; else
    ``(False, None)``: the caller reads it with :mod:`json` (and its own options)."""
    pattern = _LONG_DIGITS if isinstance(data, bytes | bytearray) else _LONG_DIGITS_TEXT
    if pattern.search(data) is not None:  # type: ignore[arg-type]
        return False, None  # an integer orjson would turn into a float, perhaps
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError:
        return False, None


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``, faster."""
    done, value = fast_loads(data)
    return value if done else json.loads(data)  # what orjson refuses: json's answer (or error)


def dumps(value: Any) -> bytes:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()``, faster."""
    try:
        data = orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: a big int, a non-string key, an unknown type...
        return _STDLIB.encode(value).encode()
    if b"null" in data and _has_odd_float(value):
        return _STDLIB.encode(value).encode()
    return data


def _has_odd_float(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` holds a float that is not finite (orjson writes it as null)."""
    kind = type(value)
    if kind is float:
        return not math.isfinite(value)
    if depth > 200:
        return False  # past orjson's own depth limit: it would have raised already
    if kind is dict:
        return any(_has_odd_float(v, depth + 1) for v in value.values())
    if kind is list or kind is tuple:
        return any(_has_odd_float(v, depth + 1) for v in value)
    return isinstance(value, float) and not math.isfinite(value)
