from __future__ import annotations

import pytest

from mcpfleet.cli.arguments import ArgumentError, parse_tool_arguments


def test_key_values_are_json_where_they_parse() -> None:
    args = parse_tool_arguments(["a=1", "b=true", "name=Ada Lovelace", 'tags=["x","y"]', "id:=007"])
    assert args == {"a": 1, "b": True, "name": "Ada Lovelace", "tags": ["x", "y"], "id": "007"}


def test_json_object_and_pairs_merge() -> None:
    assert parse_tool_arguments(["b=2"], '{"a": 1}') == {"a": 1, "b": 2}
    assert parse_tool_arguments(['{"a": {"n": 1}}']) == {"a": {"n": 1}}


@pytest.mark.parametrize(
    ("pairs", "json_text", "message"),
    [
        (["novalue"], None, "must look like key=value"),
        ([], "[1]", "must be a JSON object"),
        ([], "{bad", "not valid JSON"),
    ],
)
def test_bad_arguments_say_what_to_do(pairs: list[str], json_text: str | None, message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        parse_tool_arguments(pairs, json_text)
