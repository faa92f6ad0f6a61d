"""A tool's inputSchema as form fields, and the submitted fields back as arguments."""

from __future__ import annotations

import pytest

from mcpfleet.ui.forms import arguments_from, form_fields

pytestmark = pytest.mark.timeout(10)

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "who"},
        "count": {"type": "integer", "default": 3},
        "ratio": {"type": "number"},
        "unit": {"type": "string", "enum": ["s", "ms"]},
        "loud": {"type": "boolean", "default": False},
        "tags": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": ["object", "null"]},
    },
    "required": ["name", "unit"],
}


def test_each_json_schema_type_gets_its_input() -> None:
    fields = {f.name: f for f in form_fields(SCHEMA)}
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {"name": "text", "count": "integer", "ratio": "number", "unit": "enum",
                     "loud": "boolean", "tags": "json", "extra": "json"}  # fmt: skip
    assert fields["unit"].choices == ("s", "ms") and fields["unit"].required
    assert fields["count"].default == "3" and fields["loud"].default == "false"
    assert fields["tags"].placeholder == "[]" and fields["name"].description == "who"
    assert form_fields(None) == [] and form_fields({"type": "object"}) == []


def test_fields_come_back_typed_and_empty_optional_ones_are_left_out() -> None:
    form = {"arg.name": "Ada", "arg.count": "7", "arg.ratio": "0.5", "arg.unit": "ms", "arg.loud": "true",
            "arg.tags": '["a", "b"]', "arg.extra": ""}  # fmt: skip
    arguments, problems = arguments_from(SCHEMA, form)
    assert problems == {}
    assert arguments == {
        "name": "Ada",
        "count": 7,
        "ratio": 0.5,
        "unit": "ms",
        "loud": True,
        "tags": ["a", "b"],
    }


def test_each_bad_field_says_what_is_wrong() -> None:
    form = {"arg.count": "seven", "arg.ratio": "x", "arg.unit": "h", "arg.loud": "maybe",
            "arg.tags": "{not json", "arg.extra": "[1]"}  # fmt: skip
    arguments, problems = arguments_from(SCHEMA, form)
    assert arguments == {}
    assert problems["name"] == "is required"
    assert problems["count"] == "must be a whole number" and problems["ratio"] == "must be a number"
    assert problems["unit"] == "must be one of s, ms" and problems["loud"] == "must be true or false"
    assert problems["tags"].startswith("is not valid JSON") and problems["extra"] == "must be a JSON object"
