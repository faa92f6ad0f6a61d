"""Arguments checked against a tool's inputSchema before any instance sees them."""

from __future__ import annotations

from typing import Any

from mcpfleet.gateway.arguments import argument_problems

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string"},
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "either": {"type": ["string", "null"]},
        "anything": {"description": "no type: not checked"},
    },
    "required": ["text", "count"],
}


def test_a_good_call_has_no_problems() -> None:
    assert argument_problems(SCHEMA, {"text": "hi", "count": 2, "ratio": 0.5, "flag": True}) == []
    assert argument_problems(SCHEMA, {"text": "hi", "count": 2.0, "either": None, "anything": [1]}) == []
    undeclared = {"text": "hi", "count": 1, "extra": "not declared: the server's to judge"}
    assert argument_problems(SCHEMA, undeclared) == []


def test_missing_and_mistyped_arguments_are_named() -> None:
    assert argument_problems(SCHEMA, {}) == ["missing required argument(s): text, count"]
    problems = argument_problems(SCHEMA, {"text": 5, "count": True, "ratio": "x", "either": 3})
    assert problems == [
        "argument 'text' must be string, not integer",
        "argument 'count' must be integer, not boolean",  # JSON true is not a number
        "argument 'ratio' must be number, not string",
        "argument 'either' must be string or null, not integer",
    ]
    fraction = argument_problems(SCHEMA, {"text": "", "count": 1.5})
    assert fraction == ["argument 'count' must be integer, not number"]


def test_schemas_it_cannot_be_sure_of_pass_everything() -> None:
    assert argument_problems(None, {"a": 1}) == []
    assert argument_problems({"type": "array"}, {"a": 1}) == []
    assert argument_problems({"type": "object"}, {"a": 1}) == []
    assert argument_problems({"properties": {"a": {"type": "mystery"}}}, {"a": 1}) == []


def test_each_schema_object_is_checked_as_it_is() -> None:
    first: dict[str, Any] = {"type": "object", "required": ["a"]}
    assert argument_problems(first, {}) == ["missing required argument(s): a"]
    assert argument_problems(first, {}) == ["missing required argument(s): a"]  # the kept check
    second: dict[str, Any] = {"type": "object", "required": ["b"]}  # another tool, another schema
    assert argument_problems(second, {"a": 1}) == ["missing required argument(s): b"]
    assert argument_problems(first, {"a": 1}) == []
    for n in range(5000):  # many schemas: what is kept stays bounded, answers stay right
        assert argument_problems({"type": "object", "required": [f"k{n}"]}, {}) == [
            f"missing required argument(s): k{n}"
        ]
