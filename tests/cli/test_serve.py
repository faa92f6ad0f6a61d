"""`mcpfleet up` as an operator runs it: SIGKILL one instance, and see it detected within one
health interval, alerted to a webhook, restarted, and counted in /metrics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from database_helpers import previous_release_sqlite
from helpers import fleet, free_port, own_server, wait_port
from mcpfleet.config import HealthConfig, RestartPolicy, dump_config
from mcpfleet.migrations import VERSION_TABLE

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

INTERVAL = 0.5


class Webhook:
    def __init__(self) -> None:
        self.alerts: list[tuple[float, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                hook.alerts.append((time.monotonic(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def kinds(self) -> list[str]:
        return [alert["kind"] for _, alert in self.alerts]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    threading.Thread(target=hook.server.serve_forever, daemon=True).start()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


async def eventually(check: Any, within: float = 20.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_a_killed_instance_is_alerted_restarted_and_counted(tmp_path: Path, webhook: Webhook) -> None:
    config = fleet(
        tmp_path / "home", work=own_server("work_server.py", restart=RestartPolicy(backoff_initial=1.0))
    )
    config.health_check_interval = INTERVAL
    config.health = HealthConfig(alert_threshold=1, timeout=2.0, webhook_url=webhook.url)
    (tmp_path / "mcpfleet.yaml").write_text(dump_config(config))
    port = free_port()
    log = (tmp_path / "up.log").open("wb")
    up = _start_up(tmp_path / "mcpfleet.yaml", port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_port(port, within=60)
        async with httpx.AsyncClient(timeout=10) as http:

            async def metric(name: str, **labels: str) -> float:
                text = (await http.get(f"{url}/metrics")).text
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        if s.name == name and s.labels == labels:
                            return float(s.value)
                return 0.0

            status = (await http.get(f"{url}/api/v1/status")).json()
            pid = next(s for s in status["servers"] if s["server"] == "work")["instances"][0]["pid"]
            assert await eventually(lambda: _equals(metric("mcp_health_up", server="work"), 1))

            killed_at = time.monotonic()
            os.killpg(pid, signal.SIGKILL)
            assert await eventually(lambda: _true("unhealthy" in webhook.kinds()))
            alerted_at = next(at for at, alert in webhook.alerts if alert["kind"] == "unhealthy")
            assert alerted_at - killed_at < INTERVAL + 1.0  # one interval, plus the post itself
            assert await eventually(lambda: _equals(metric("mcp_instance_restarts_total", server="work"), 1))
            assert await eventually(lambda: _true("recovered" in webhook.kinds()))
            assert await metric("mcp_instances", server="work", state="ready") == 1
            assert await eventually(lambda: _equals(metric("mcp_health_up", server="work"), 1))
            reply = await http.post(f"{url}/api/v1/servers/work/tools/lookup", json={"key": "k"})
            assert reply.status_code == 200 and not reply.json().get("isError")
            assert not reply.json()["content"][0]["text"].endswith(f"@{pid}")  # a new process answered
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=30)
        log.close()
    assert webhook.kinds()[:2] == ["unhealthy", "recovered"]


def _start_up(config: Path, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "mcpfleet", "-c", str(config), "up", "--port", str(port)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)


async def _equals(value: Any, expected: float) -> bool:
    return bool(await value == expected)


async def _true(value: bool) -> bool:
    return value


async def test_up_upgrades_the_previous_release_database_first(tmp_path: Path) -> None:
    previous_release_sqlite(tmp_path / "home").dispose()
    config = fleet(tmp_path / "home", work=own_server("work_server.py"))
    (tmp_path / "mcpfleet.yaml").write_text(dump_config(config))
    port = free_port()
    log = (tmp_path / "up.log").open("wb")
    up = _start_up(tmp_path / "mcpfleet.yaml", port, log)
    try:
        await wait_port(port, within=60)
        with sqlite3.connect(tmp_path / "home" / "fleet.db") as conn:
            assert conn.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchall() == [("0002",)]
            assert conn.execute("SELECT count(*) FROM audit_records").fetchone() == (12,)
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=30)
        log.close()


def test_up_refuses_a_database_it_cannot_upgrade_before_starting_anything(tmp_path: Path) -> None:
    """A database from a newer mcpfleet: one line, exit 1, no server started."""
    previous_release_sqlite(tmp_path / "home").upgrade()
    with sqlite3.connect(tmp_path / "home" / "fleet.db") as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0999'")
    config = fleet(tmp_path / "home", work=own_server("work_server.py"))
    (tmp_path / "mcpfleet.yaml").write_text(dump_config(config))
    command = [sys.executable, "-m", "mcpfleet", "-c", str(tmp_path / "mcpfleet.yaml"), "up", "--port", "0"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    assert "at schema revision '0999', which this mcpfleet does not know" in done.stderr
    assert "Traceback" not in done.stderr and "Fleet home" not in done.stdout  # stopped before starting
