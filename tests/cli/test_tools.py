"""`mcpfleet tools`: still lists a server's tools, and diff / accept say what to do when there is
nothing to show; `install` pins (the held-and-accepted path runs in tests/security/test_pins.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import SERVERS

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # several `mcpfleet` processes


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("MCPFLEET_CONFIG", None)
    env.pop("MCPFLEET_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "mcpfleet", "--config", str(tmp_path / "mcpfleet.yaml"), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=50,
    )  # fmt: skip


def test_tools_lists_and_diff_accept_explain_an_empty_state(tmp_path: Path) -> None:
    drift = {
        "package": {"type": "command", "command": sys.executable},
        "args": [str(SERVERS / "drifting_server.py")],
    }
    (tmp_path / "mcpfleet.yaml").write_text(
        yaml.safe_dump({"home": str(tmp_path / "home"), "servers": {"drift": drift}})
    )
    assert run(tmp_path, "install", "drift").returncode == 0
    listed = run(tmp_path, "tools", "drift", "--json")  # `tools SERVER` is `tools list SERVER`
    assert listed.returncode == 0, listed.stderr
    assert {t["name"] for t in json.loads(listed.stdout)} == {"lookup", "stable"}

    diff = run(tmp_path, "tools", "diff", "drift")
    assert (
        diff.returncode == 0 and "No changed tools of drift (2 tool(s) pinned)." in diff.stdout
    )  # pinned at install
    accept = run(tmp_path, "tools", "accept", "drift")
    assert accept.returncode == 1
    assert "drift has no changed definition to accept; see `mcpfleet tools diff drift`" in accept.stderr
    unknown = run(tmp_path, "tools", "diff", "nope")
    assert unknown.returncode == 1 and "no server 'nope' in this fleet; servers: drift" in unknown.stderr
