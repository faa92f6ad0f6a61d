from __future__ import annotations

from pathlib import Path

import pytest

from mcpfleet.config import FleetConfig, NpmPackage, dump_config, load_config, parse_config
from mcpfleet.exceptions import ConfigError

GOOD = """
home: ./fleet
servers:
  memory:
    package: {type: npm, name: "@modelcontextprotocol/server-memory", version: "2026.8.31"}
    env: {MEMORY_FILE_PATH: "${MCPFLEET_SERVER_DATA}/memory.json"}
  time:
    package: {type: pypi, name: mcp-server-time}
    instances: 2
  remote:
    package: {type: remote, url: "http://127.0.0.1:9/mcp"}
    headers: {Authorization: "Bearer ${TOKEN}"}
"""


def test_parses_every_package_type(tmp_path: Path) -> None:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    assert list(config.servers) == ["memory", "time", "remote"]
    assert isinstance(config.servers["memory"].package, NpmPackage)
    assert config.servers["time"].instances == 2
    assert config.servers["remote"].transport == "http"
    assert config.servers["memory"].transport == "stdio"
    # relative home is taken from the file's folder
    assert config.home_path() == tmp_path / "fleet"


def test_reports_every_problem_with_path_line_and_hint() -> None:
    bad = """servers:
  fs:
    package: {type: npn, name: x}
  ok:
    package: {type: pypi, name: y}
    instancs: 3
  Bad Name:
    package: {type: command, command: echo}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(bad, source="f.yaml")
    problems = info.value.problems
    assert len(problems) == 3, problems
    text = "\n".join(problems)
    assert "servers.fs.package (line 3)" in text and "npm, pypi, oci, command, remote" in text
    assert "servers.ok.instancs (line 6)" in text and "remove it or check its spelling" in text
    assert "Bad Name" in text and "lower-case" in text


def test_invalid_yaml_and_wrong_shape_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML at line 3"):
        parse_config("servers:\n  a: [\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- a\n- b\n")
    with pytest.raises(ConfigError, match="mcpfleet init"):
        load_config(tmp_path / "nope.yaml")


def test_remote_rejects_args_and_bad_urls() -> None:
    with pytest.raises(ConfigError, match="remote server takes no args"):
        parse_config("servers:\n  r:\n    package: {type: remote, url: 'http://x/mcp'}\n    args: [a]\n")
    with pytest.raises(ConfigError, match=r"servers\.r\.package\.url"):
        parse_config("servers:\n  r:\n    package: {type: remote, url: 'ftp://x'}\n")


def test_dump_round_trips_and_stays_short() -> None:
    config = parse_config(GOOD)
    text = dump_config(config)
    assert "restart" not in text and "startup_timeout" not in text
    again = parse_config(text)
    assert again.servers == config.servers


def test_empty_file_is_an_empty_fleet() -> None:
    assert parse_config("") == FleetConfig()
