"""The run state file, and finding the home of a running fleet without loading the fleet's models."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpfleet.cli.runstate import find_home, read_state, write_state
from mcpfleet.config import load_config
from mcpfleet.home import FleetHome


def test_the_home_is_found_where_the_manager_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MCPFLEET_HOME", raising=False)
    monkeypatch.delenv("MCPFLEET_CONFIG", raising=False)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("home: .fleet  # beside the file\nservers: {}\n")
    expected = FleetHome.at(load_config(fleet).home_path())
    assert find_home(fleet, None) == expected == FleetHome.at(tmp_path / ".fleet")
    assert find_home(fleet, tmp_path / "other") == FleetHome.at(tmp_path / "other")  # --home wins
    monkeypatch.setenv("mcpfleet_home", str(tmp_path / "env"))  # any case, as pydantic-settings reads it
    assert find_home(fleet, None) == FleetHome.at(tmp_path / "env")
    monkeypatch.delenv("mcpfleet_home")
    monkeypatch.setenv("MCPFLEET_CONFIG", str(fleet))
    assert find_home(None, None) == expected
    # No fleet file: the default home; a file that is not plain YAML: left to the manager to explain.
    assert find_home(tmp_path / "missing.yaml", None) == FleetHome.at("~/.mcpfleet")
    fleet.write_text("servers: [\n")
    assert find_home(fleet, None) is None


def test_the_state_of_a_live_fleet_is_read_back_and_a_dead_one_is_not(tmp_path: Path) -> None:
    home = FleetHome.at(tmp_path)
    write_state(home, [{"name": "time"}], "http://127.0.0.1:1")
    live = read_state(home)
    assert live is not None and live.gateway_url == "http://127.0.0.1:1"
    assert live.servers == [{"name": "time"}]
    state = tmp_path / "run" / "fleet.json"
    state.write_text(state.read_text().replace(f'"pid": {live.pid}', '"pid": 999999999'))
    assert read_state(home) is None
