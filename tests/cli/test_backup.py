"""`mcpfleet backup` as an operator runs it: a real `mcpfleet` process per command, the real npm
memory server, and `mcpfleet up` on the restored home."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from helpers import NPM_BIN, free_port
from mcpfleet.manager import MCPManager

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
MCPFLEET = [sys.executable, "-m", "mcpfleet"]
GRAPH = {"entities": [{"name": "Ada", "entityType": "person", "observations": ["first program"]}]}


def run(tmp_path: Path, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("MCPFLEET_CONFIG", None)
    done = subprocess.run(
        [*MCPFLEET, "--config", str(tmp_path / "mcpfleet.yaml"), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=100,
    )  # fmt: skip
    if done.returncode != code:
        raise AssertionError(
            f"mcpfleet {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


async def _remember(config: Path, home: Path) -> None:
    async with MCPManager(config, home=home) as manager:
        assert (await manager.batch_install()).ok
        await manager.execute_tool("memory", "create_entities", GRAPH)


def test_create_list_verify_restore_up_prune(tmp_path: Path) -> None:
    memory = NPM_BIN / "mcp-server-memory"
    if not memory.exists():
        pytest.skip(f"{memory} missing: run scripts/test, which installs the npm test servers")
    fleet = {
        "backup": {"every": "6h", "keep_days": 30, "dir": "backups"},
        "servers": {
            "memory": {
                "package": {"type": "command", "command": str(memory)},
                "env": {"MEMORY_FILE_PATH": "${MCPFLEET_SERVER_DATA}/memory.json"},
            }
        },
    }
    (tmp_path / "mcpfleet.yaml").write_text(yaml.safe_dump(fleet))
    asyncio.run(_remember(tmp_path / "mcpfleet.yaml", tmp_path / "home"))  # in-process: quicker
    saved = (tmp_path / "home/data/memory/memory.json").read_bytes()

    first = run(tmp_path, "backup", "create").stdout.split()[0]
    second = run(tmp_path, "backup", "create").stdout.split()[0]
    listed = run(tmp_path, "backup", "list").stdout
    assert first in listed and second in listed and listed.index(second) < listed.index(first)
    assert "data of memory" in listed and "install lock" in listed
    rows = [json.loads(line) for line in run(tmp_path, "backup", "list", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == [second, first] and rows[0]["servers"] == ["memory"]

    assert "intact" in run(tmp_path, "backup", "verify", first).stdout
    archive = tmp_path / "home/backups" / f"mcpfleet-backup-{first}.tar.gz"
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(archive.read_bytes()[:-100])
    assert "truncated" in run(tmp_path, "backup", "verify", str(broken), code=1).stderr
    assert "No backup 'nope'" in run(tmp_path, "backup", "verify", "nope", code=2).stderr
    assert (
        "not an empty folder"
        in run(tmp_path, "backup", "restore", first, "--home", str(tmp_path), code=1).stderr
    )

    new = tmp_path / "restored"
    restored = run(tmp_path, "backup", "restore", first, "--home", str(new)).stdout
    assert f"mcpfleet --home {new} up" in restored
    assert (new / "data/memory/memory.json").read_bytes() == saved
    assert (new / "mcpfleet.yaml").read_bytes() == (tmp_path / "mcpfleet.yaml").read_bytes()

    _up_serves_the_same_graph(new, tmp_path / "elsewhere")

    pruned = run(tmp_path, "backup", "prune", "--keep-days", "0").stdout
    assert f"deleted {first}" in pruned and "1 backup(s) deleted, 1 kept" in pruned
    assert not archive.exists()
    assert (tmp_path / "home/backups" / f"mcpfleet-backup-{second}.tar.gz").exists()


def _up_serves_the_same_graph(home: Path, cwd: Path) -> None:
    """`mcpfleet --home NEW up` (no --config: it finds NEW/mcpfleet.yaml) serves the restored data,
    and makes its first scheduled backup at once (there is none in NEW/backups yet)."""
    cwd.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("MCPFLEET_HOME", "MCPFLEET_CONFIG")}
    log = cwd / "up.log"
    with log.open("wb") as stderr:
        up = subprocess.Popen(
            [*MCPFLEET, "--home", str(home), "up", "--port", str(port)],
            cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=10) as http:
            while True:
                assert up.poll() is None, log.read_text()
                try:
                    reply = http.post(f"{url}/api/v1/servers/memory/tools/read_graph", json={})
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "mcpfleet up did not come up"
                    time.sleep(0.1)
        assert reply.status_code == 200, reply.text
        graph = json.loads(reply.json()["content"][0]["text"])
        assert [e["name"] for e in graph["entities"]] == ["Ada"]
        while not list((home / "backups").glob("mcpfleet-backup-*.tar.gz")):
            assert time.monotonic() < deadline, "no scheduled backup was made by mcpfleet up"
            time.sleep(0.1)
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=30)
