"""Round-trip YAML with ruamel.yaml: a document written the way a given text is written, and
values merged into it so what stays the same keeps its place, comments, quotes and style.

    rt = round_tripper(text)                 # indents as ``text`` has them, lines never wrapped
    doc = rt.load(entry_text)
    merge(doc["time"], full, minimal)        # full: every value; minimal: what to write
    set_in(doc, ("time", "package", "version"), "2026.10.19")

New strings are quoted where PyYAML (YAML 1.1, which reads the fleet file) would take them for
something else: ``on``, ``1.10``, ``null``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

__all__ = ["indents", "like", "merge", "merge_entry", "round_tripper", "scalar", "set_in", "to_node"]

_QUOTED = (SingleQuotedScalarString, DoubleQuotedScalarString)
_PLAIN_STR = "tag:yaml.org,2002:str"


def round_tripper(text: str) -> YAML:
    """A round-trip YAML that writes the way ``text`` is written (indents), never wrapping lines."""
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 1 << 16
    mapping, sequence, offset = indents(text)
    rt.indent(mapping=mapping, sequence=sequence, offset=offset)
    return rt


def indents(text: str) -> tuple[int, int, int]:
    """(mapping, sequence, offset) as the text uses them; 2, 4, 2 where it does not say."""
    mapping, sequence, offset = 2, 4, 2
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return mapping, sequence, offset
    found_map = found_seq = False
    stack: list[yaml.Node] = [root] if root is not None else []
    while stack and not (found_map and found_seq):
        node = stack.pop()
        if not isinstance(node, yaml.MappingNode) or node.flow_style:
            continue
        for key, value in node.value:
            if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value and not found_map:
                step = value.value[0][0].start_mark.column - key.start_mark.column
                mapping, found_map = (step, True) if step > 0 else (mapping, found_map)
            if (
                isinstance(value, yaml.SequenceNode)
                and not value.flow_style
                and value.value
                and not found_seq
            ):
                dash = value.start_mark.column - key.start_mark.column
                item = value.value[0].start_mark.column - key.start_mark.column
                if 0 <= dash < item:
                    sequence, offset, found_seq = item, dash, True
            stack.append(value)
    return mapping, max(sequence, offset + 2), offset


def scalar(value: Any) -> Any:
    """A new string PyYAML would read as something else (``on``, ``1.10``, ``null``) is quoted."""
    if isinstance(value, str) and not isinstance(value, _QUOTED):
        tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
        if tag != _PLAIN_STR:
            return SingleQuotedScalarString(value)
    return value


def to_node(value: Any, *, flow: bool = False) -> Any:
    """Plain data as ruamel nodes: block maps, except a server's ``package``, written inline."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for key, item in value.items():
            node[scalar(str(key))] = to_node(item, flow=flow or key == "package")
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(to_node(v, flow=flow) for v in value)
        if flow:
            seq.fa.set_flow_style()
        return seq
    return scalar(value)


def like(old: Any, new: Any) -> Any:
    """``new`` in ``old``'s quoting, when both are strings."""
    if isinstance(old, _QUOTED) and isinstance(new, str):
        return type(old)(new)
    return to_node(new, flow=isinstance(old, (CommentedMap, CommentedSeq)) and bool(old.fa.flow_style()))


def merge(old: CommentedMap, full: Mapping[str, Any], minimal: Mapping[str, Any]) -> None:
    """Make ``old`` say ``full`` (all values), writing only what ``minimal`` (no defaults) holds
    where a value changes; what stays the same keeps its place, comments and style."""
    for key in list(old):
        if key not in full:
            del old[key]
        elif old[key] == full[key]:
            continue
        elif isinstance(old[key], CommentedMap) and isinstance(full[key], Mapping):
            merge(old[key], full[key], minimal.get(key) or {})
            if not old[key] and key not in minimal:
                del old[key]
        elif key in minimal:
            old[key] = like(old[key], minimal[key])
        else:
            del old[key]
    for key, value in minimal.items():
        if key not in old:
            old[key] = to_node(value, flow=bool(old.fa.flow_style()) or key == "package")


def merge_entry(doc: CommentedMap, name: str, full: Mapping[str, Any], minimal: Mapping[str, Any]) -> None:
    """:func:`merge` into ``doc[name]``; a new or non-map entry becomes ``minimal`` (inline in an
    inline ``doc``)."""
    if isinstance(doc.get(name), CommentedMap):
        merge(doc[name], full, minimal)
    else:
        doc[name] = to_node(minimal, flow=bool(doc.fa.flow_style()))


def set_in(doc: CommentedMap, path: Sequence[str], value: Any) -> None:
    """Set ``doc[path[0]]...[path[-1]]`` to ``value`` (in the old value's quoting), making maps
    on the way as needed."""
    node = doc
    for key in path[:-1]:
        if not isinstance(node.get(key), CommentedMap):
            node[key] = CommentedMap()
        node = node[key]
    last = path[-1]
    node[last] = like(node[last], value) if last in node else to_node(value)
