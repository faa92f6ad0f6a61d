"""The gateway worker pool's parts: shares of instances, roles, the shared port, the refusal of
runtime actions, and the pool itself with real child processes (a stand-in worker script, so
these run in a second; `mcpfleet up` with real workers is in tests/cli/test_serve.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

import httpx
import pytest

from helpers import alive, own_server
from mcpfleet.autoscale.config import AutoscaleConfig
from mcpfleet.config import FleetConfig, GatewayConfig
from mcpfleet.exceptions import FleetError
from mcpfleet.gateway.workers import (
    READY_LINE,
    WORKER_ENV,
    WorkerPool,
    WorkerRole,
    check_workers,
    instance_share,
    reuse_port_socket,
    shares,
    single_worker_actions,
    worker_config,
)

pytestmark = pytest.mark.timeout(30)


def test_each_worker_runs_its_share_of_the_instances() -> None:
    assert [instance_share(n, 2) for n in (0, 1, 2, 3, 4)] == [0, 1, 1, 2, 2]
    assert instance_share(4, 3) == 2 and instance_share(2, 8) == 1
    config = FleetConfig(
        servers={
            "a": own_server("toy.py", instances=5),
            "off": own_server("toy.py", enabled=False),
            "lazy": own_server("toy.py", instances=0),
        }
    )
    assert shares(config, 2) == {"a": 3}
    assert config.servers["a"].instances == 5  # the fleet file's figure is left as it is


def test_a_worker_signs_with_the_shared_secret_and_adds_no_servers_on_demand() -> None:
    configured = GatewayConfig(port=9, session_secret="${S}")
    config = worker_config(configured, "shared")
    assert config.session_secret == "shared" and not config.on_demand.enabled and config.port == 9
    assert configured.session_secret == "${S}" and configured.on_demand.enabled  # left as it was


def test_a_role_is_read_from_the_environment() -> None:
    assert WorkerRole.from_env({WORKER_ENV: "1/3"}) == WorkerRole(1, 3)
    for value in ("", "0/2", "2/2", "x/2", "1/2/3"):
        assert WorkerRole.from_env({WORKER_ENV: value}) is None


def test_the_autoscaler_needs_one_worker_and_too_many_workers_warn(caplog: pytest.LogCaptureFixture) -> None:
    config = FleetConfig()
    config.gateway = GatewayConfig(workers=2)
    config.autoscale = AutoscaleConfig(enabled=True)
    with pytest.raises(FleetError, match=r"autoscaler needs gateway\.workers: 1"):
        check_workers(config)
    config.autoscale = AutoscaleConfig()
    config.gateway = GatewayConfig(workers=min(64, (os.cpu_count() or 1) + 1))
    with caplog.at_level(logging.WARNING, logger="mcpfleet.gateway"):
        check_workers(config)
    assert "more workers only add memory" in caplog.text
    config.gateway = GatewayConfig.model_validate(
        {"workers": 2, "rate_limits": {"principals": {"default": {"rate": "10/minute"}}}}
    )
    with caplog.at_level(logging.WARNING, logger="mcpfleet.gateway"):
        check_workers(config)
    assert "up to 2 times as many calls; use rate_limits.backend: redis" in caplog.text


def test_several_sockets_share_one_port_and_a_taken_one_is_refused() -> None:
    first = reuse_port_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuse_port_socket("127.0.0.1", port)
    try:
        assert second.getsockname()[1] == port
        with socket.socket() as plain:  # a listener without SO_REUSEPORT
            plain.bind(("127.0.0.1", 0))
            plain.listen()
            with pytest.raises(FleetError, match="could not listen on"):
                reuse_port_socket("127.0.0.1", plain.getsockname()[1])
    finally:
        first.close()
        second.close()


async def test_connections_accepted_on_the_shared_socket_send_at_once() -> None:
    """TCP_NODELAY on every accepted connection, as on uvicorn's own sockets (else small
    replies wait for delayed ACKs: ~40 ms a call)."""
    nodelay: list[int] = []

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    sock = reuse_port_socket("127.0.0.1", 0)
    server = await asyncio.start_server(accepted, sock=sock)
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        for _ in range(100):
            if nodelay:
                break
            await asyncio.sleep(0.01)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert nodelay and nodelay[0] != 0


async def test_actions_that_change_one_workers_instances_are_refused() -> None:
    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"through"})  # type: ignore[operator]

    guarded = single_worker_actions(app, 4)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded), base_url="http://t") as http:
        refused = (
            "/api/v1/servers/a/drain",
            "/api/v1/servers/a/update",
            "/ui/servers/a/restart",
            "/ui/catalog/install",
        )
        for path in refused:
            reply = await http.post(path)
            assert reply.status_code == 409, path
            assert (
                "gateway.workers: 4" in reply.json()["error"]
                and "gateway.workers: 1" in reply.json()["error"]
            )
        assert (await http.post("/api/v1/servers/a/tools/drain")).text == "through"  # a tool call
        assert (await http.get("/api/v1/servers/a/drain")).text == "through"


STAND_IN = f"import os, sys, time\nos.write(1, {READY_LINE!r})\ntime.sleep(60)\n"


async def test_the_pool_starts_restarts_and_stops_its_workers() -> None:
    pool = WorkerPool([sys.executable, "-c", STAND_IN], dict(os.environ), 3)
    await pool.start()
    try:
        first = pool.pids
        assert len(first) == 2
        os.kill(first[0], signal.SIGKILL)
        for _ in range(100):  # the first wait is at most half a second
            if len(pool.pids) == 2 and first[0] not in pool.pids:
                break
            await asyncio.sleep(0.05)
        assert len(pool.pids) == 2 and first[0] not in pool.pids and first[1] in pool.pids
        every = pool.pids
    finally:
        await pool.stop()
    assert not any(alive(pid) for pid in every)


async def test_a_worker_that_cannot_start_fails_the_start() -> None:
    pool = WorkerPool([sys.executable, "-c", "import sys; sys.exit(3)"], dict(os.environ), 2)
    with pytest.raises(FleetError, match=r"Gateway worker 1 did not start \(exit code 3\)"):
        await pool.start()
    assert pool.pids == []
