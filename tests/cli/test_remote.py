"""The commands that ask a running fleet (`status`, `call`) go over the admin API without
importing the server side: no manager, no fleet models, no HTTP stack of ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import SERVERS, free_port

pytestmark = pytest.mark.timeout(120)

WATCH = ("mcpfleet.manager", "mcpfleet.config", "httpx", "sqlalchemy", "starlette", "uvicorn", "mcp")
PROBE = """\
import atexit, sys
watch = {watch!r}
atexit.register(lambda: print("IMPORTED:", *sorted(
    {{m for m in sys.modules for w in watch if m == w or m.startswith(w + ".")}} & set(watch)
), file=sys.stderr))
sys.argv = ["mcpfleet", *{argv!r}]
from mcpfleet.cli.main import main
main()
"""


def probe(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`mcpfleet ARGV` in a new process, and which of WATCH it had imported when it ended."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("MCPFLEET_HOME", None)
    env.pop("MCPFLEET_CONFIG", None)
    argv = ("--config", str(tmp_path / "mcpfleet.yaml"), *argv)
    code = PROBE.format(watch=WATCH, argv=list(argv))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    line = next(x for x in done.stderr.splitlines() if x.startswith("IMPORTED:"))
    return done, set(line.split()[1:])


def test_status_and_call_on_a_running_fleet_stay_lean(tmp_path: Path) -> None:
    toy = {"package": {"type": "command", "command": sys.executable}, "args": [str(SERVERS / "toy.py")]}
    fleet = {"home": "home", "servers": {"toy": toy}, "gateway": {"port": free_port()}}
    (tmp_path / "mcpfleet.yaml").write_text(yaml.safe_dump(fleet))
    up = subprocess.Popen(
        [sys.executable, "-m", "mcpfleet", "--config", str(tmp_path / "mcpfleet.yaml"), "up"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "home" / "run" / "fleet.json").exists():
            assert up.poll() is None and time.monotonic() < deadline, "`mcpfleet up` did not come up"
            time.sleep(0.1)
        while True:
            status, imported = probe(tmp_path, "status")
            if "ready" in status.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "ready" in status.stdout and "fleet not running" not in status.stdout, status.stdout
        assert imported == set(), f"status imported {imported}"
        called, imported = probe(tmp_path, "call", "toy", "echo", "text=lean")
        assert called.returncode == 0 and called.stdout.strip() == "lean", called.stderr
        assert imported == set(), f"call imported {imported}"
        # An error from the gateway is its one line, as before.
        refused, _ = probe(tmp_path, "call", "tyo", "echo")
        assert refused.returncode == 1 and "tyo" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=30)
