"""FleetFile: a hand-written fleet file keeps every byte outside the entry an edit touches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from mcpfleet.config import FleetConfig, NpmPackage, PypiPackage, ServerSpec, parse_config
from mcpfleet.exceptions import ConfigError
from mcpfleet.fleetfile import FleetFile, server_data

HEAD = """\
# My fleet: written by hand, comments and all.
home: .fleet   # per machine; never rewritten

servers:
  # memory: the knowledge graph
  memory:
    env: {MEMORY_FILE_PATH: "${MCPFLEET_SERVER_DATA}/memory.json"}   # its data
    package: { type: npm, name: "@modelcontextprotocol/server-memory", version: "2026.8.31" }
    description: knowledge graph

"""
TIME = """\
  time:
    instances: 2
    package: {type: pypi, name: mcp-server-time, version: "2026.10.19"}  # pinned
    args:
      - --local-timezone=UTC
    # restart: {max_restarts: 9}
"""
TAIL = """\

# the gateway, inline
gateway: {port: 8765, separator: "__"}
# trailing comment
"""
TEXT = HEAD + TIME + TAIL
SQLITE = ServerSpec(
    package=PypiPackage(name="mcp-server-sqlite", version="2025.4.25", constraints=["mcp<2"]),
    args=["--db-path", "${MCPFLEET_SERVER_DATA}/sqlite.db"],
)


def squeeze(text: str) -> str:
    """The text with one space before each comment: inside an entry that changed, a comment stays
    at its column (or one space after a longer line)."""
    return re.sub(" +#", " #", text)


def time_spec(**changes: object) -> ServerSpec:
    spec = parse_config(TEXT).servers["time"]
    return spec.model_copy(update=changes)


def test_adding_a_server_keeps_every_byte_before_and_after_it() -> None:
    fleet = FleetFile(TEXT)
    assert fleet.set_server("sqlite", SQLITE)
    assert fleet.text.startswith(HEAD + TIME) and fleet.text.endswith(TAIL)
    added = fleet.text[len(HEAD + TIME) : -len(TAIL)]
    assert added == (
        "\n"  # the entries are set apart by blank lines: so is the new one
        "  sqlite:\n"
        "    package: {type: pypi, name: mcp-server-sqlite, version: 2025.4.25, constraints: [mcp<2]}\n"
        "    args:\n"
        "      - --db-path\n"
        "      - ${MCPFLEET_SERVER_DATA}/sqlite.db\n"
    )
    config = parse_config(fleet.text)
    assert config.servers["sqlite"] == SQLITE and config.home == ".fleet"


def test_replacing_an_entry_changes_only_what_changed_in_it() -> None:
    fleet = FleetFile(TEXT)
    package = PypiPackage(name="mcp-server-time", version="2026.11.1", constraints=["tzlocal<5.4"])
    assert fleet.set_server("time", time_spec(package=package))
    assert fleet.text.startswith(HEAD) and fleet.text.endswith(TAIL)
    expected = TIME.replace('version: "2026.10.19"}', 'version: "2026.11.1", constraints: [tzlocal<5.4]}')
    assert squeeze(fleet.text[len(HEAD) : -len(TAIL)]) == squeeze(expected)
    assert parse_config(fleet.text).servers["time"].package == package


def test_an_entry_that_already_says_the_spec_is_not_touched() -> None:
    fleet = FleetFile(TEXT)
    assert not fleet.set_server("time", time_spec())
    assert not fleet.set_server("time", time_spec(instances=2, enabled=True))  # a default, unwritten
    assert fleet.text == TEXT


def test_a_field_back_at_its_default_leaves_the_entry() -> None:
    fleet = FleetFile(TEXT)
    fleet.set_server("time", time_spec(instances=1))
    assert fleet.text == HEAD + TIME.replace("    instances: 2\n", "") + TAIL


def test_removing_takes_the_entry_and_its_own_comment_only() -> None:
    fleet = FleetFile(TEXT)
    assert fleet.remove_server("memory")
    assert fleet.text == TEXT.replace(HEAD.split("servers:\n")[1], "")
    assert not fleet.remove_server("memory")
    assert fleet.remove_server("time")  # the last one: servers is an empty map, not null
    assert parse_config(fleet.text).servers == {}
    assert fleet.text.startswith("# My fleet") and fleet.text.endswith(TAIL)
    assert "servers: {}\n" in fleet.text


def test_setting_fields_in_an_entry_and_at_the_top() -> None:
    fleet = FleetFile(TEXT)
    fleet.set_field(("servers", "time", "package", "version"), "2026.12.1")
    updated = TEXT.replace('"2026.10.19"', '"2026.12.1"')  # its quotes kept
    assert squeeze(fleet.text) == squeeze(updated)
    fleet.set_field(("env_file",), ".env")
    assert squeeze(fleet.text) == squeeze(updated) + "env_file: .env\n"
    fleet.set_field(("gateway", "port"), 9000)
    assert 'gateway: {port: 9000, separator: "__"}\n# trailing comment\n' in fleet.text
    with pytest.raises(ConfigError, match="no server 'nope'"):
        fleet.set_field(("servers", "nope", "package", "version"), "1")


def test_new_strings_that_yaml_would_misread_are_quoted() -> None:
    spec = ServerSpec(
        package=NpmPackage(name="x", version="1.10", overrides={"y": "on"}), env={"A": "null", "B": "0755"}
    )
    fleet = FleetFile("servers: {}\n")
    fleet.set_server("x", spec)
    assert parse_config(fleet.text).servers["x"] == spec
    assert "'1.10'" in fleet.text and "'on'" in fleet.text


def test_empty_and_missing_servers_and_an_empty_file() -> None:
    for text in ("", "# just a comment\n", "servers:\n", "servers: {}  # none yet\n", "home: x\n"):
        fleet = FleetFile(text)
        fleet.set_server("sqlite", SQLITE)
        assert parse_config(fleet.text).servers == {"sqlite": SQLITE}, text
        assert fleet.text.startswith(text.split("servers")[0]), text
    fleet = FleetFile("servers: {}  # none yet\n")
    fleet.set_server("sqlite", SQLITE)
    assert fleet.text.startswith("servers:  # none yet\n  sqlite:\n")


def test_an_inline_servers_map_stays_inline() -> None:
    fleet = FleetFile("servers: {a: {package: {type: command, command: a}}}\nhome: x  # mine\n")
    fleet.set_server("sqlite", SQLITE)
    assert fleet.text.endswith("\nhome: x  # mine\n") and fleet.text.startswith("servers: {a: ")
    fleet.remove_server("a")
    assert set(parse_config(fleet.text).servers) == {"sqlite"}


def test_indentless_lists_and_four_space_indents_are_followed() -> None:
    text = "servers:\n    a:\n        package: {type: command, command: a}\n        args:\n        - x\n"
    fleet = FleetFile(text)
    fleet.set_server("sqlite", SQLITE)
    assert fleet.text.startswith(text)
    assert fleet.text[len(text) :].startswith("    sqlite:\n        package:")
    assert "\n        - --db-path\n" in fleet.text


def test_sync_writes_the_servers_and_never_the_home(tmp_path: Path) -> None:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(TEXT)
    config = parse_config(TEXT)
    config.home = "/somewhere/from/MCPFLEET_HOME"
    config.servers = {"time": config.servers["time"], "sqlite": SQLITE}
    fleet = FleetFile.load(path)
    assert fleet.sync(config)
    fleet.save()
    written = path.read_text()
    assert "MCPFLEET_HOME" not in written and written.startswith("# My fleet") and written.endswith(TAIL)
    assert list(parse_config(written).servers) == ["time", "sqlite"]
    new = FleetFile.load(tmp_path / "new.yaml")
    new.sync(FleetConfig(home="/elsewhere", servers={"sqlite": SQLITE}, health_check_interval=5))
    new.save()
    data = yaml.safe_load((tmp_path / "new.yaml").read_text())
    assert data == {"health_check_interval": 5.0, "servers": {"sqlite": server_data(SQLITE)}}


def test_a_file_that_is_not_a_fleet_is_refused_untouched(tmp_path: Path) -> None:
    refused = (("- a\n", "must be a mapping"), ("{servers: {}}\n", "block style"), ("a: [\n", "YAML"))
    for text, match in refused:
        fleet = FleetFile(text)
        with pytest.raises(ConfigError, match=match):
            fleet.set_server("sqlite", SQLITE)
        assert fleet.text == text


def test_save_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(TEXT)
    path.chmod(0o640)
    fleet = FleetFile.load(path)
    fleet.set_server("sqlite", SQLITE)
    fleet.save()
    assert path.stat().st_mode & 0o777 == 0o640 and "sqlite:" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["mcpfleet.yaml"]


def test_adding_then_removing_a_server_gives_the_file_back() -> None:
    for text in (TEXT, "servers:\n  a:\n    package: {type: command, command: a}\n", "servers: {}\n"):
        fleet = FleetFile(text)
        fleet.set_server("sqlite", SQLITE)
        fleet.remove_server("sqlite")
        assert fleet.text == text


def test_an_edit_that_would_change_another_entry_is_refused_and_undone() -> None:
    text = "servers:\n  a: &same\n    package: {type: command, command: a}\n  b: *same   # b is a too\n"
    fleet = FleetFile(text)
    with pytest.raises(ConfigError, match="could not edit the fleet file in place"):
        fleet.set_server("a", ServerSpec.model_validate({"package": {"type": "command", "command": "x"}}))
    assert fleet.text == text
