"""`mcpfleet up` as an operator runs it: SIGKILL one instance, and see it detected within one
health interval, alerted to a webhook, restarted, and counted in /metrics."""

from __future__ import annotations

import asyncio
import contextlib
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
from helpers import alive, fleet, free_port, own_server, wait_port
from mcpfleet.config import GatewayConfig, HealthConfig, RestartPolicy, dump_config
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


def _start_up(
    config: Path, port: int | None, log: IO[bytes], stdout: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "mcpfleet", "-c", str(config), "up"]
    command += [] if port is None else ["--port", str(port)]
    out = subprocess.DEVNULL if stdout is None else stdout
    return subprocess.Popen(command, stdout=out, stderr=log, start_new_session=True)


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


def _worker_pids(stdout: Path) -> list[int]:
    """The pids `mcpfleet up` printed for its gateway workers (itself first), once it did."""
    for line in stdout.read_text(errors="replace").splitlines():
        if line.startswith("Gateway workers:"):
            return [int(p) for p in line.split("(pids ")[1].rstrip(")").split(", ")]
    return []


async def test_up_with_two_workers_serves_one_port_from_both(tmp_path: Path) -> None:
    """gateway.workers: 2: both processes accept on the one port, a session opened on one goes on
    on the other, /metrics sums both, the audit chains verify, a killed worker comes back, and
    SIGTERM leaves no process behind."""
    import psutil

    config = fleet(tmp_path / "home", toy=own_server("toy.py", instances=2))
    port = free_port()
    config.gateway = GatewayConfig(port=port, workers=2)
    (tmp_path / "mcpfleet.yaml").write_text(dump_config(config))
    stdout, log = (tmp_path / "up.out").open("wb"), (tmp_path / "up.log").open("wb")
    up = _start_up(tmp_path / "mcpfleet.yaml", None, log, stdout)
    url = f"http://127.0.0.1:{port}"
    everything: set[int] = {up.pid}
    try:
        assert await eventually(lambda: _true(bool(_worker_pids(tmp_path / "up.out"))), within=60)
        workers = _worker_pids(tmp_path / "up.out")
        assert workers[0] == up.pid and len(workers) == 2
        everything.update(workers)
        async with httpx.AsyncClient(timeout=10) as http:
            hello = {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            }
            init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello}
            opened = await http.post(f"{url}/mcp", json=init, headers=HEADERS)
            session = {**HEADERS, "mcp-session-id": opened.headers["mcp-session-id"]}
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await http.post(f"{url}/mcp", json=initialized, headers=session)

        async def serving_worker(turn: int) -> int:
            """Call toy__pid on a new connection (the kernel picks the worker): which answered."""
            async with httpx.AsyncClient(timeout=10) as http:
                call = {"jsonrpc": "2.0", "id": turn, "method": "tools/call",
                        "params": {"name": "toy__pid", "arguments": {}}}  # fmt: skip
                reply = await http.post(f"{url}/mcp", json=call, headers=session)
            assert reply.status_code == 200, reply.text
            instance = int(_body(reply)["result"]["content"][0]["text"])
            everything.add(instance)
            return int(psutil.Process(instance).ppid())  # each worker runs its own instance

        served: dict[int, int] = {}
        for turn in range(1, 41):
            worker = await serving_worker(turn)
            served[worker] = served.get(worker, 0) + 1
        assert set(served) == set(workers), served  # one session, served by both workers

        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"{url}/metrics")).text  # either worker: the sum of both
            assert _sample(text, "mcp_requests_total", server="toy", tool="pid") == 40
            refused = await http.post(f"{url}/api/v1/servers/toy/drain", json={})
            assert refused.status_code == 409 and "gateway.workers: 1" in refused.json()["error"]

        os.kill(workers[1], signal.SIGKILL)  # a worker dies: up starts another
        up_process = psutil.Process(up.pid)

        async def replaced() -> bool:
            return any(p != workers[1] for p in _gateway_workers(up_process))

        assert await eventually(replaced, within=30)
        everything.update(c.pid for c in up_process.children(recursive=True))
        new_worker = next(p for p in _gateway_workers(up_process) if p != workers[1])
        turns = iter(range(100, 1000))

        async def new_worker_serves() -> bool:
            return await serving_worker(next(turns)) == new_worker

        assert await eventually(new_worker_serves, within=30)  # the same session, on the new one
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=40)
        stdout.close()
        log.close()
    assert up.returncode == 0, (tmp_path / "up.log").read_text()
    assert await eventually(lambda: _true(not any(alive(p) for p in everything)), within=10)
    verify = [sys.executable, "-m", "mcpfleet", "-c", str(tmp_path / "mcpfleet.yaml"), "audit", "verify"]
    done = await asyncio.to_thread(subprocess.run, verify, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("OK: "), done.stdout + done.stderr


HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _gateway_workers(parent: Any) -> list[int]:
    """The live `mcpfleet gateway-worker` children of ``parent`` (a psutil.Process)."""
    import psutil

    found = []
    for child in parent.children():
        with contextlib.suppress(psutil.Error):  # a zombie, or gone
            if "gateway-worker" in child.cmdline():
                found.append(child.pid)
    return found


def _body(reply: httpx.Response) -> Any:
    if reply.headers["content-type"].startswith("application/json"):
        return reply.json()
    data = [line[5:].strip() for line in reply.text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1])


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0
