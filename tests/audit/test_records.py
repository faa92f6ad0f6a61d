"""canonical(): the text the hash chain covers, byte for byte what json's encoder writes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mcpfleet.audit.records import canonical

STDLIB = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@pytest.mark.parametrize(
    "content",
    [
        {"b": 1, "a": [1.5, 1e-05, 1e16, -0.0, None, True], "é": {"z": '\u2028"\\\x01', "a": 2**70}},
        "plain text",
        None,
        [],
        {"1": "x", "10": "y", "2": "z"},
    ],
)
def test_canonical_is_what_the_standard_encoder_writes(content: Any) -> None:
    assert canonical(content) == STDLIB.encode(content)


def test_canonical_refuses_what_it_always_refused() -> None:
    with pytest.raises(ValueError, match="Out of range float"):
        canonical({"x": math.nan})
    with pytest.raises(TypeError):
        canonical({"x": object()})
    looped: dict[str, Any] = {}
    looped["self"] = looped
    with pytest.raises(ValueError, match="Circular reference"):
        canonical(looped)
