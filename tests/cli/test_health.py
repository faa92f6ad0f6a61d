"""`mcpfleet status`, `health` and `restart` against a real `mcpfleet up` whose servers fail: one
whose package the registry does not have (a registry on loopback that has nothing), one that
exits at once. Each shows its state and last error; `/readyz` follows `gateway.readiness: any`."""

from __future__ import annotations

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

from helpers import SERVERS, empty_registry, free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]
MCPFLEET = [sys.executable, "-m", "mcpfleet"]


def toy(*args: str) -> dict[str, object]:
    return {
        "package": {"type": "command", "command": sys.executable},
        "args": [str(SERVERS / "toy.py"), *args],
    }


def test_status_and_health_show_what_failed_and_what_comes_next(tmp_path: Path) -> None:
    port = free_port()
    fleet = {
        "servers": {
            "toy": toy(),
            "crashing": toy("--mode", "exit"),
            "ghost": {"package": {"type": "pypi", "name": "mcpfleet-ghost-server", "version": "1.0.0"}},
        },
        "gateway": {"port": port, "readiness": "any"},
        "health_check_interval": 30,
    }
    (tmp_path / "mcpfleet.yaml").write_text(yaml.safe_dump(fleet))
    with empty_registry() as registry:
        env = {
            **os.environ, **registry, "MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "400",
            "NO_COLOR": "1",
        }  # fmt: skip
        env.pop("MCPFLEET_CONFIG", None)

        def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [*MCPFLEET, "--config", str(tmp_path / "mcpfleet.yaml"), *args],
                capture_output=True, text=True, env=env, cwd=tmp_path, timeout=100,
            )  # fmt: skip
            assert not check or done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stderr}"
            return done

        up = subprocess.Popen(
            [*MCPFLEET, "--config", str(tmp_path / "mcpfleet.yaml"), "up"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
        try:
            rows: dict[str, dict[str, object]] = {}
            deadline = time.monotonic() + 90
            while rows.get("crashing", {}).get("next_try") is None:  # up, and crashing tried again
                assert up.poll() is None, up.stderr.read() if up.stderr else ""
                assert time.monotonic() < deadline, rows
                time.sleep(0.2)
                status = run("status", "--json", check=False)
                if status.returncode == 0 and status.stdout.strip().startswith("["):
                    rows = {r["server"]: r for r in json.loads(status.stdout)}
            assert rows["toy"]["state"] == "ready"
            assert rows["crashing"]["state"] == "backing_off" and rows["crashing"]["restarts"] == 1
            assert "fatal: missing configuration" in str(rows["crashing"]["last_error"])
            ghost = rows["ghost"]
            assert ghost["state"] == "gave_up" and ghost["restarts"] == 0  # not tried again
            assert "not found in the package registry" in str(ghost["last_error"])  # uv's own words
            assert str(ghost["last_error"]).endswith("then `mcpfleet restart ghost`")

            table = run("status").stdout
            lines = {line.split()[1]: line for line in table.splitlines() if line.startswith("│ ")}
            assert "ready" in lines["toy"]
            assert (
                "backing off (next try in" in lines["crashing"]
                and "missing configuration" in lines["crashing"]
            )
            assert "gave up" in lines["ghost"] and "not found in the package registry" in lines["ghost"]

            health = run("health", check=False)
            assert health.returncode == 1  # some are down
            lines = {line.split()[1]: line for line in health.stdout.splitlines() if line.startswith("│ ")}
            assert "healthy" in lines["toy"]
            assert "down" in lines["ghost"] and "gave up" in lines["ghost"]
            assert "not running" not in health.stdout

            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
            assert ready.status_code == 200  # any: toy is ready
            assert set(ready.json()["not_ready"]) == {"crashing", "ghost"}

            again = run("restart", "ghost", check=False)  # asked to: tried again, and says why not
            assert again.returncode == 1 and "not found in the package registry" in again.stderr
            assert "Traceback" not in again.stderr
            assert run("stop", "toy").stdout.strip() == "toy: stopped"
            assert run("start", "toy").stdout.strip() == "toy: ready"
        finally:
            os.killpg(up.pid, signal.SIGTERM)
            up.wait(timeout=30)
            if up.stderr is not None:
                up.stderr.close()
