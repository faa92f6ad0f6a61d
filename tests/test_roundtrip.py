"""Round-trip YAML: values merged in keep the style of what stays; new strings read back as strings."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import yaml

from mcpfleet.roundtrip import indents, merge, round_tripper, scalar

ENTRY = """\
time:   # the clock
  package: {type: pypi, name: mcp-server-time, version: "1"}   # pinned
  # two of them
  instances: 2
  args:
    - --a
"""


def dumped(text: str, edit: Callable[[Any], object]) -> str:
    rt = round_tripper(text)
    doc = rt.load(text)
    edit(doc)
    out = io.StringIO()
    rt.dump(doc, out)
    return out.getvalue()


def test_a_merge_keeps_what_stays_and_changes_only_what_differs() -> None:
    package = {"type": "pypi", "name": "mcp-server-time", "version": "2"}
    full = {"package": package, "instances": 2, "args": ["--a"]}
    assert dumped(ENTRY, lambda doc: merge(doc["time"], full, full)) == ENTRY.replace('"1"', '"2"')
    back_to_one = {**full, "instances": 1}  # the default again: not written
    text = dumped(ENTRY, lambda doc: merge(doc["time"], back_to_one, {"package": package, "args": ["--a"]}))
    assert "instances" not in text and "# the clock" in text and "# pinned" in text


def test_new_strings_that_yaml_1_1_reads_otherwise_are_quoted() -> None:
    values = ["on", "yes", "1.10", "0755", "null", "~", "12", "2026-01-01", "2026.10.19", "mcp<2"]
    text = dumped("a: 1\n", lambda doc: doc.update({"values": [scalar(v) for v in values]}))
    assert yaml.safe_load(text)["values"] == values  # PyYAML reads the fleet file
    assert type(scalar("mcp-server-time")) is str and type(scalar("2026.10.19")) is str


def test_indents_follow_the_text() -> None:
    assert indents("a:\n    b: 1\n    c:\n    - x\n") == (4, 2, 0)
    assert indents("a:\n  b:\n    - x\n") == (2, 4, 2)
    assert indents("a: 1\n") == (2, 4, 2)
