"""``mcpfleet config validate --pin`` and ``config import --pin``: a real `mcpfleet` process each,
resolving against the real npm and PyPI registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcpfleet.config import load_config
from mcpfleet.install.pinning import is_pinned

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

FLEET = """\
# my fleet: hand-written, and it stays that way
servers:
  memory:   # knowledge graph
    package: {type: npm, name: "@modelcontextprotocol/server-memory"}
  time:
    package:
      type: pypi
      name: mcp-server-time
      version: latest   # resolve me
    instances: 2
  fixed:
    package: {type: npm, name: "@modelcontextprotocol/server-everything", version: "2026.8.31"}
"""


def mcpfleet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("MCPFLEET_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "mcpfleet", "--config", str(tmp_path / "mcpfleet.yaml"), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=170,
    )  # fmt: skip


def test_validate_pin_writes_exact_versions_and_nothing_else(tmp_path: Path) -> None:
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(FLEET)
    warned = mcpfleet(tmp_path, "config", "validate")
    assert warned.returncode == 0 and warned.stderr.count("is not pinned") == 2, warned.stderr
    done = mcpfleet(tmp_path, "config", "validate", "--pin")
    assert done.returncode == 0, done.stderr
    assert "pinned memory: @modelcontextprotocol/server-memory latest -> " in done.stdout
    assert "is not pinned" not in done.stderr
    config = load_config(fleet)
    memory, time = config.servers["memory"].package.version, config.servers["time"].package.version
    assert is_pinned(memory) and is_pinned(time)
    assert config.servers["fixed"].package.version == "2026.8.31"
    # Only the two versions changed: comments, inline maps and order are as written.
    expected = FLEET.replace(
        '"@modelcontextprotocol/server-memory"}',
        f'"@modelcontextprotocol/server-memory", version: {memory}}}',
    )
    changed = [line for line in fleet.read_text().splitlines() if line not in expected.splitlines()]
    assert (
        len(changed) == 1
        and changed[0].strip().startswith(f"version: {time}")
        and "# resolve me" in changed[0]
    )
    again = mcpfleet(tmp_path, "config", "validate", "--pin")
    assert "pinned already" in again.stdout and fleet.read_text().count("version:") == 3


def test_import_pin_writes_the_imported_servers_pinned(tmp_path: Path) -> None:
    desktop = tmp_path / "claude_desktop_config.json"
    desktop.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "memory": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-memory"]},
                    "time": {"command": "uvx", "args": ["mcp-server-time"]},
                }
            }
        )
    )
    done = mcpfleet(tmp_path, "config", "import", str(desktop), "--pin")
    assert done.returncode == 0, done.stderr
    servers = load_config(tmp_path / "mcpfleet.yaml").servers
    assert {n: is_pinned(s.package.version) for n, s in servers.items()} == {"memory": True, "time": True}
    ghost = tmp_path / "ghost.json"
    ghost.write_text(
        json.dumps({"mcpServers": {"ghost": {"command": "uvx", "args": ["mcp-server-no-such-x9"]}}})
    )
    refused = mcpfleet(tmp_path, "config", "import", str(ghost), "--pin")
    assert refused.returncode == 1 and "PyPI has no mcp-server-no-such-x9" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "ghost" not in load_config(tmp_path / "mcpfleet.yaml").servers  # nothing half done


def test_import_adds_its_servers_and_leaves_the_rest_of_the_file_as_written(tmp_path: Path) -> None:
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(FLEET)
    desktop = tmp_path / "claude_desktop_config.json"
    server = {"command": "mytool", "args": ["--x"], "env": {"API_TOKEN": "s3cret-value"}}
    desktop.write_text(json.dumps({"mcpServers": {"mytool": server}}))
    done = mcpfleet(tmp_path, "config", "import", str(desktop))
    assert done.returncode == 0, done.stdout + done.stderr
    text = fleet.read_text()
    assert text.startswith(FLEET) and text.endswith("env_file: .env\n")
    assert "s3cret-value" not in text and "home" not in text
    config = load_config(fleet)
    assert config.servers["mytool"].env == {"API_TOKEN": "${MYTOOL_API_TOKEN}"}
    assert "s3cret-value" in (tmp_path / ".env").read_text()
