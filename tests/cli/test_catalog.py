"""``mcpfleet catalog sync / status / serve`` and ``mcpfleet search`` from the mirror, as a user runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from catalog_helpers import RegistryStandIn, run_registry
from helpers import free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]  # seven `mcpfleet` processes


def run(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCPFLEET_HOME": str(folder / "home"), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("MCPFLEET_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "mcpfleet", "--config", str(folder / "mcpfleet.yaml"), *args],
        capture_output=True, text=True, env=env, cwd=folder, timeout=100,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(
            f"mcpfleet {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def test_sync_status_search_offline_and_serve(tmp_path: Path) -> None:
    standin = RegistryStandIn.generated(300)
    (tmp_path / "mcpfleet.yaml").write_text(yaml.safe_dump({"catalog": {"deny": ["*/slack-*"]}}))
    assert "empty" in run(tmp_path, "catalog", "status").stdout
    with run_registry(standin) as url:
        (tmp_path / "mcpfleet.yaml").write_text(
            yaml.safe_dump({"registry_url": url, "catalog": {"deny": ["*/slack-*"]}})
        )
        first = run(tmp_path, "catalog", "sync")
        standin.update("io.github.owner0/weather-tools-0", description="Storms and sunshine")
        second = run(tmp_path, "catalog", "sync")
    assert "(full): 330 entries fetched in 4 page(s)" in first.stdout
    assert "283 servers offered" in first.stdout  # 300 less the 17 slack ones denied
    assert "(incremental): 1 entries fetched in 1 page(s)" in second.stdout
    assert f"Registry mirror of {url}: 283 servers offered" in run(tmp_path, "catalog", "status").stdout
    found = run(tmp_path, "search", "storms")  # the stand-in is stopped
    assert "weather-tools-0" in found.stdout and "mirror" in found.stdout
    assert "Answered by the built-in catalog and the fleet's registry mirror" in found.stderr
    assert "slack-" not in run(tmp_path, "search", "slack").stdout  # the built-in slack only

    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "mcpfleet", "--config", str(tmp_path / "mcpfleet.yaml"), "catalog", "serve",
         "--port", str(port)],
        env={**os.environ, "MCPFLEET_HOME": str(tmp_path / "home")}, cwd=tmp_path, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    other = tmp_path / "other"
    other.mkdir()
    (other / "mcpfleet.yaml").write_text(yaml.safe_dump({"registry_url": f"http://127.0.0.1:{port}"}))
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/v0.1/servers?limit=1")
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        synced = run(other, "catalog", "sync")
        assert "(full): 313 entries fetched" in synced.stdout and "283 servers offered" in synced.stdout
    finally:
        os.killpg(serve.pid, signal.SIGTERM)
        # uvicorn shuts down, then re-raises the signal it caught: the exit status is SIGTERM's
        assert serve.wait(timeout=20) in (0, -signal.SIGTERM)
