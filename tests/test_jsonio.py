"""jsonio: orjson where it answers as the standard library does, the standard library elsewhere."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from mcpfleet.jsonio import dumps, fast_loads, loads

SAMPLES: list[Any] = [
    {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": 'é\u2028 "q" \\ \x01'}]}},
    [1, -2, 2.5, 1e-05, 1e16, 1e300, -0.0, True, False, None, "", {}],
    {"big": 2**70, "neg": -(2**65), "edge": 2**64 - 1, "i64": -(2**63)},
    {"nested": [[[[{"a": [1]}]]]]},
    ("a", "tuple"),
]


@pytest.mark.parametrize("value", SAMPLES)
def test_dumps_and_loads_agree_with_the_standard_library(value: Any) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(dumps(value)) == json.loads(expected)
    assert loads(expected) == json.loads(expected)
    assert loads(expected.decode()) == json.loads(expected)


def test_what_orjson_would_change_goes_through_the_standard_library() -> None:
    assert dumps({1: "a"}) == b'{"1":"a"}'  # non-string keys
    assert dumps({"x": math.nan, "y": [math.inf]}) == b'{"x":NaN,"y":[Infinity]}'  # not null
    assert loads(b'{"id": 123456789012345678901234567890}') == {"id": 123456789012345678901234567890}
    assert loads(b'"\\ud800"') == "\ud800"  # a lone surrogate
    assert math.isnan(loads(b"NaN"))
    assert fast_loads(b'{"id": 12345678901234567890123}') == (False, None)
    assert fast_loads(b'{"id": 7}') == (True, {"id": 7})


def test_what_the_standard_library_refuses_is_still_refused() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    for odd in (Point(1), datetime.now(UTC), object()):
        with pytest.raises(TypeError):
            dumps({"v": odd})
    with pytest.raises(ValueError, match="Expecting property name"):
        loads(b"{not json")
