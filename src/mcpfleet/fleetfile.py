"""Edit a fleet file in place: the touched server entry (or field) changes, nothing else does.

    fleet = FleetFile.load("mcpfleet.yaml")
    fleet.set_server("time", spec)                                        # add or replace an entry
    fleet.remove_server("memory")
    fleet.set_field(("servers", "time", "package", "version"), "2026.10.19")
    fleet.save()

The file is never dumped whole, so its comments, blank lines, key order, quotes and inline
``{...}`` maps stay byte for byte outside what changes. An entry is its key's line and the lines
below it indented deeper; ruamel.yaml round-trips just those lines (so the entry keeps its own
comments and style where its values stay the same) and they are spliced back. Only what the
caller passes is written: nothing derived from the environment (``home``, resolved paths,
defaults). Every edit is checked by reading the result back; one that would change anything
else is refused, and the file is left as it was.
"""

from __future__ import annotations

import copy
import io
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from mcpfleet.config import FleetConfig, ServerSpec, dump_config
from mcpfleet.exceptions import ConfigError
from mcpfleet.home import check_server_name
from mcpfleet.roundtrip import merge_entry, round_tripper, set_in, to_node

__all__ = ["FleetFile", "server_data"]


def server_data(spec: ServerSpec) -> dict[str, Any]:
    """A server as the fleet file holds it: defaults left out, the package's ``type`` first."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    package = data.pop("package", {})
    package.pop("type", None)
    return {"package": {"type": spec.package.type, **package}, **data}


class FleetFile:
    """A fleet file's text, edited one entry at a time (see the module docstring)."""

    def __init__(self, text: str = "", path: str | Path | None = None) -> None:
        self.text = text
        self.path = Path(path) if path is not None else None

    @classmethod
    def load(cls, path: str | Path) -> FleetFile:
        """The file at ``path``; a file that is not there yet is an empty one."""
        path = Path(path)
        try:
            return cls(path.read_text(encoding="utf-8"), path)
        except FileNotFoundError:
            return cls("", path)
        except OSError as exc:
            raise ConfigError(f"Cannot read {path}: {exc.strerror}") from None

    def save(self, path: str | Path | None = None) -> Path:
        """Write the text to ``path`` (default: where it was loaded from), whole or not at all."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("FleetFile.save() needs a path: this text was not loaded from a file")
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(self.text, encoding="utf-8", newline="")
        if target.exists():
            shutil.copymode(target, tmp)
        tmp.replace(target)
        return target

    # ----------------------------------------------------------------- queries

    def servers(self) -> list[str]:
        """The names of the servers the file declares, in its order."""
        servers = self._data().get("servers")
        return [str(n) for n in servers] if isinstance(servers, dict) else []

    # ----------------------------------------------------------------- edits

    def set_server(self, name: str, spec: ServerSpec) -> bool:
        """Add the server, or make its entry say ``spec``; returns whether the text changed.

        An entry that already says ``spec`` is left alone; in one that changes, fields whose
        values stay keep their comments, quotes and inline style.
        """
        check_server_name(name)
        text, before = self.text, self._data()
        old = (before.get("servers") or {}).get(name) if isinstance(before.get("servers"), dict) else None
        if old is not None and _same_spec(old, spec):
            return False
        minimal = server_data(spec)
        full = spec.model_dump(mode="json")
        root = self._root()
        servers = _child(root, "servers")
        key = _entry(servers[1], name) if servers is not None else None
        if servers is not None and _inline(servers[1]):
            self._edit_block(servers[0], lambda doc: merge_entry(_first(doc), name, full, minimal))
        elif key is not None:
            self._edit_block(key, lambda doc: merge_entry(doc, str(next(iter(doc))), full, minimal))
        else:
            self._add_entry(root, servers, name, minimal)
        self._check(text, before, lambda data: _put_server(data, name), name, spec)
        return True

    def sync(self, config: FleetConfig) -> bool:
        """Make the file's servers those of ``config``: entries that changed are rewritten, new
        ones added, gone ones removed. The other settings are written only into a new file, and
        ``home`` never is (``--home`` / ``MCPFLEET_HOME`` may have set it). Returns whether the
        text changed."""
        before = self.text
        if not self.text.strip():
            settings = yaml.safe_load(dump_config(config)) or {}
            for key, value in settings.items():
                if key not in ("home", "servers"):
                    self.set_field((key,), value)
        for name in self.servers():
            if name not in config.servers:
                self.remove_server(name)
        for name, spec in config.servers.items():
            self.set_server(name, spec)
        return self.text != before

    def remove_server(self, name: str) -> bool:
        """Take the server's entry (its lines) out of the file; returns whether it was there."""
        text, before = self.text, self._data()
        servers = _child(self._root(), "servers")
        key = _entry(servers[1], name) if servers is not None else None
        if servers is None or key is None:
            return False
        key_node, value = servers
        if _inline(value):
            self._edit_block(key_node, lambda doc: _first(doc).pop(name))
        else:
            self._remove_block(key)
            if len(value.value) == 1:  # it was the last one: `servers:` alone would be null, not a map
                self._after_colon(key_node, " {}")

        def expected(data: dict[str, Any]) -> None:
            data["servers"].pop(name)

        self._check(text, before, expected)
        return True

    def set_field(self, path: Sequence[str], value: Any) -> None:
        """Set one field: ``("env_file",)``, ``("gateway", "port")`` or, inside a server's entry,
        ``("servers", NAME, "package", "version")`` (the server must be in the file)."""
        path = tuple(path)
        if not path or (path[0] == "servers" and len(path) < 3):
            raise ValueError("set_field needs a path to one field; use set_server for a whole server")
        text, before = self.text, self._data()
        root = self._root()
        if path[0] == "servers":
            servers = _child(root, "servers")
            key = _entry(servers[1], path[1]) if servers is not None else None
            if servers is None or key is None:
                raise ConfigError(f"{self._where()} has no server {path[1]!r} to set {'.'.join(path[2:])} of")
            if _inline(servers[1]):
                self._edit_block(servers[0], lambda doc: set_in(_first(doc), path[1:], value))
            else:
                self._edit_block(key, lambda doc: set_in(doc, path[1:], value))
        else:
            top = _child(root, path[0])
            if top is not None:
                self._edit_block(top[0], lambda doc: set_in(doc, path, value))
            else:
                self._append_top(to_node({path[0]: _nested(path[1:], value)}))

        def expected(data: dict[str, Any]) -> None:
            _set_plain(data, path, value)

        self._check(text, before, expected)

    # ----------------------------------------------------------------- reading the text

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "the fleet file"

    def _root(self) -> yaml.MappingNode | None:
        try:
            root = yaml.compose(self.text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "it cannot be read"
            where = f"{self._where()} is not valid YAML{at} ({problem})"
            raise ConfigError(f"{where}; fix it, then try again") from None
        if root is None:
            return None
        if not isinstance(root, yaml.MappingNode):
            raise ConfigError(f"{self._where()} must be a mapping with a `servers:` key")
        if root.flow_style:
            raise ConfigError(
                f"{self._where()} is one inline {{...}} map; write it in block style so mcpfleet can edit it"
            )
        return root

    def _data(self) -> dict[str, Any]:
        self._root()  # the same error as an edit would give, for text that is not a fleet file
        data = yaml.safe_load(self.text)
        return data if isinstance(data, dict) else {}

    def _lines(self) -> list[str]:
        return self.text.splitlines(keepends=True)

    def _newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    def _block(self, key: yaml.Node) -> tuple[int, int]:
        """Lines ``[start, end)`` of the key's entry: its line, then every line indented deeper
        (and ``- item`` lines at its own column, an indentless list), trailing blank lines left out."""
        lines = self._lines()
        start, column = key.start_mark.line, key.start_mark.column
        end = start + 1
        last = start + 1
        while end < len(lines):
            body = lines[end].rstrip("\r\n")
            stripped = body.lstrip(" ")
            indent = len(body) - len(stripped)
            if stripped and not (indent > column or (indent == column and re.match(r"-( |$)", stripped))):
                break
            end += 1
            if stripped:
                last = end
        return start, last

    # ----------------------------------------------------------------- changing the text

    def _replace_lines(self, start: int, end: int, new: list[str]) -> None:
        lines = self._lines()
        if new and end == len(lines) and start < end and not lines[end - 1].endswith("\n"):
            new[-1] = new[-1].rstrip("\r\n")  # the file ended without a newline; so does it now
        self.text = "".join(lines[:start] + new + lines[end:])

    def _insert_lines(self, at: int, new: list[str]) -> None:
        lines = self._lines()
        if at > 0 and at == len(lines) and not lines[-1].endswith("\n"):
            lines[-1] += self._newline()
        self.text = "".join(lines[:at] + new + lines[at:])

    def _remove_block(self, key: yaml.Node) -> None:
        """Delete the key's entry with the comment lines right above it (at its column, no blank
        line between: they speak of it), and one blank line that set it apart: the one after it,
        or, at the end of a list set apart by blank lines, the one before it."""
        lines = self._lines()
        start, end = self._block(key)
        column = key.start_mark.column
        while start > 0 and re.match(rf" {{{column}}}#", lines[start - 1]):
            start -= 1
        before = lines[start - 1] if start > 0 else ""
        blank_before = start > 0 and not before.strip()
        opens = (
            blank_before
            or start == 0
            or (len(before) - len(before.lstrip(" ")) < column and not before.lstrip().startswith("#"))
        )
        if opens and end < len(lines) and not lines[end].strip():
            end += 1
        elif blank_before:
            start -= 1
        self._replace_lines(start, end, [])

    def _after_colon(self, key: yaml.Node, insert: str) -> None:
        """Put ``insert`` right after the ``:`` that follows ``key``."""
        colon = self.text.index(":", key.end_mark.index)
        self.text = self.text[: colon + 1] + insert + self.text[colon + 1 :]

    def _edit_block(self, key: yaml.Node, edit: Callable[[CommentedMap], object]) -> None:
        """Round-trip the key's entry through ruamel.yaml, ``edit`` it, and splice it back."""
        start, end = self._block(key)
        column = key.start_mark.column
        lines = self._lines()[start:end]
        dedented = "".join(line[column:] if line.strip() else "\n" for line in lines)
        doc = round_tripper(self.text).load(dedented)
        edit(doc)
        self._replace_lines(start, end, self._render(doc, column))

    def _render(self, doc: CommentedMap, column: int) -> list[str]:
        out = io.StringIO()
        round_tripper(self.text).dump(doc, out)
        newline, pad = self._newline(), " " * column
        return [(pad + line if line.strip() else "") + newline for line in out.getvalue().splitlines()]

    def _add_entry(
        self,
        root: yaml.MappingNode | None,
        servers: tuple[yaml.Node, yaml.Node] | None,
        name: str,
        minimal: dict[str, Any],
    ) -> None:
        entry = to_node({name: minimal})
        if servers is None:
            self._append_top(CommentedMap([("servers", entry)]))
            return
        key_node, value = servers
        step = _mapping_step(root)
        if isinstance(value, yaml.MappingNode) and value.value:
            keys = [k for k, _ in value.value]
            column = keys[0].start_mark.column
            at = self._block(keys[-1])[1]
            lines = self._render(entry, column)
            if len(keys) > 1 and not self._lines()[self._block(keys[0])[1]].strip():
                lines.insert(0, self._newline())  # entries are set apart by blank lines: so is this one
            self._insert_lines(at, lines)
            return
        # `servers:` with nothing, `servers: {}` or `servers: null`: drop the value, add below.
        line_no = key_node.start_mark.line
        line = self._lines()[line_no]
        if value.start_mark.index < value.end_mark.index and value.start_mark.line == line_no:
            s, e = value.start_mark.column, value.end_mark.column
            line = line[:s].rstrip(" ") + (line[e:] if line[e:].strip() else line[len(line.rstrip("\r\n")) :])
            self._replace_lines(line_no, line_no + 1, [line])
        self._insert_lines(line_no + 1, self._render(entry, key_node.start_mark.column + step))

    def _append_top(self, doc: CommentedMap) -> None:
        lines = self._lines()
        self._insert_lines(len(lines), self._render(doc, 0))

    def _check(
        self,
        text: str,
        before: dict[str, Any],
        change: Callable[[dict[str, Any]], None],
        server: str | None = None,
        spec: ServerSpec | None = None,
    ) -> None:
        """Read the new text back: it must say what ``before`` said, changed as ``change`` says;
        else the edit is undone (back to ``text``) and refused."""
        try:
            after = yaml.safe_load(self.text)
        except yaml.YAMLError:
            after = None
        expected = copy.deepcopy(before)
        change(expected)
        ok = isinstance(after, dict)
        if ok and server is not None and spec is not None:
            written = (after.get("servers") or {}).get(server)
            ok = written is not None and _same_spec(written, spec)
            if ok:
                expected["servers"][server] = written
        if not ok or after != expected:
            self.text = text
            raise ConfigError(
                f"mcpfleet could not edit {self._where()} in place without changing more than it should; "
                "make the change by hand (`mcpfleet config validate` checks it)"
            )


# --------------------------------------------------------------------- helpers


def _mapping_step(root: yaml.MappingNode | None) -> int:
    """How far the file indents a nested map (2 if it has none)."""
    if root is not None:
        for key, value in root.value:
            if isinstance(value, yaml.MappingNode) and not value.flow_style and value.value:
                step = value.value[0][0].start_mark.column - key.start_mark.column
                if step > 0:
                    return int(step)
    return 2


def _inline(node: yaml.Node) -> bool:
    """A ``{...}`` map with entries (an empty one is replaced by a block)."""
    return isinstance(node, yaml.MappingNode) and bool(node.flow_style) and bool(node.value)


def _child(node: yaml.MappingNode | None, name: str) -> tuple[yaml.Node, yaml.Node] | None:
    if node is None:
        return None
    return next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == name), None)


def _entry(servers: yaml.Node, name: str) -> yaml.Node | None:
    if not isinstance(servers, yaml.MappingNode):
        return None
    found = _child(servers, name)
    return found[0] if found is not None else None


def _first(doc: CommentedMap) -> CommentedMap:
    value = doc[next(iter(doc))]
    if not isinstance(value, CommentedMap):
        value = CommentedMap()
        doc[next(iter(doc))] = value
    return value


def _same_spec(data: object, spec: ServerSpec) -> bool:
    try:
        return ServerSpec.model_validate(data) == spec
    except (ValidationError, TypeError):
        return False


def _put_server(data: dict[str, Any], name: str) -> None:
    if not isinstance(data.get("servers"), dict):
        data["servers"] = {}
    data["servers"][name] = None  # replaced by what was written, once it says the spec


def _nested(path: Sequence[str], value: Any) -> Any:
    for key in reversed(path):
        value = {key: value}
    return value


def _set_plain(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = copy.deepcopy(value)
