"""`mcpfleet update` with no fleet up: the new version is recorded in its own entry only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcpfleet.config import load_config

pytestmark = pytest.mark.timeout(120)
TOY = Path(__file__).parent.parent / "servers" / "toy.py"


def test_update_rewrites_only_the_servers_own_entry(tmp_path: Path) -> None:
    toy = f"  toy: {{package: {{type: command, command: {sys.executable}}}, args: [{TOY}]}}   # inline\n"
    head = "# Our fleet, written by hand.\nhome: ./fleet-home   # ours\nservers:\n  # toy: the test server\n"
    rest = (
        "\n"
        "  other:\n"
        f"    args: [{TOY}]\n"
        "    package:\n"
        f"      command: {sys.executable}\n"
        "      type: command\n"
        "gateway: {port: 8765}   # fixed\n"
    )
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(head + toy + rest)
    env = {**os.environ, "MCPFLEET_HOME": str(tmp_path / "elsewhere"), "NO_COLOR": "1"}
    env.pop("MCPFLEET_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "mcpfleet", "--config", str(fleet), "update", "toy", "v2"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=100,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = fleet.read_text()
    assert text.startswith(head) and text.endswith(rest)  # every other byte as written
    assert text[len(head) : -len(rest)].startswith("  toy: {package: {type: command, command: ")
    config = load_config(fleet)
    assert config.servers["toy"].package.version == "v2" and config.home == str(tmp_path / "fleet-home")
