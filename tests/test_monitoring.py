"""HealthMonitor against real child processes: killed, frozen, crashing on start; alerts to a real
HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from helpers import FakeClock, fleet, free_port, own_server, serve_http
from mcpfleet.config import RemotePackage, RestartPolicy, ServerSpec
from mcpfleet.manager import MCPManager
from mcpfleet.monitoring import Alert, HealthMonitor, WebhookAlerts
from mcpfleet.runtime.state import ServerState

pytestmark = pytest.mark.timeout(60)


class Receiver:
    """A webhook endpoint on loopback that records what it is sent; fails the first ``flaky`` posts."""

    def __init__(self, flaky: int = 0) -> None:
        self.posts: list[dict[str, Any]] = []
        self.flaky = flaky
        self.url = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            event = await receive()
            body += event.get("body", b"")
            if not event.get("more_body"):
                break
        status = 200
        if self.flaky:
            self.flaky -= 1
            status = 503
        else:
            self.posts.append(json.loads(body))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = Receiver(flaky=1)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started)
    app.url = f"http://127.0.0.1:{port}/alerts"
    yield app
    server.should_exit = True
    await task


async def wait_for(predicate: Any, within: float = 15.0) -> None:
    for _ in range(int(within / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_check_all_reports_every_server(tmp_path: Path) -> None:
    config = fleet(
        tmp_path / "home",
        work=own_server("work_server.py", instances=2),
        idle=own_server("toy.py"),  # configured, never started
    )
    alerts: list[Alert] = []
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("work")
        monitor = HealthMonitor(manager, alerts=[alerts.append])
        status = await monitor.check_all()
        await monitor.round()  # what the guide's loop does with it
        started = manager.running_servers()
    assert status["work"]["healthy"] and status["work"]["error"] is None
    assert status["work"]["latency_ms"] > 0 and status["work"]["checked_at"] > 0
    assert [d["healthy"] for d in status["work"]["instances"]] == [True, True]
    # Never asked to run: idle, not sick; nothing is alerted or started for it.
    assert status["idle"] == {**status["idle"], "healthy": True, "idle": True, "error": None}
    assert alerts == [] and started == ["work"]


async def test_frozen_instance_is_alerted_and_replaced(tmp_path: Path, receiver: Receiver) -> None:
    alerts: list[Alert] = []
    recovered: list[str] = []
    async with MCPManager(
        fleet(tmp_path / "home", work=own_server("work_server.py", instances=2)), auto_install=True
    ) as manager:
        await manager.start_server("work")
        frozen = manager.get_server_instances("work")[0]
        old_pid = frozen.pid
        assert old_pid is not None
        monitor = HealthMonitor(
            manager,
            interval=0.2,
            timeout=0.3,
            alert_threshold=2,
            alerts=[alerts.append, WebhookAlerts(receiver.url, slack=True)],
            on_recovered=lambda server, status: recovered.append(server),
        )
        os.killpg(old_pid, signal.SIGSTOP)  # alive, but answers nothing
        await monitor.start()
        try:
            await wait_for(lambda: [a.kind for a in alerts] == ["unhealthy", "recovered"])
            assert frozen.pid not in (None, old_pid)  # replaced by a new process
            assert recovered == ["work"]
            # Calls never went to the frozen one once it was found out, and work now.
            result = await manager.execute_tool("work", "lookup", {"key": "k"})
            assert result["content"][0]["text"].startswith("k@")
        finally:
            await monitor.stop()
            if _alive(old_pid):
                os.kill(old_pid, signal.SIGCONT)
    await wait_for(lambda: len(receiver.posts) == 2)  # the first post got a 503 and was retried
    assert ":warning:" in receiver.posts[0]["text"] and "work" in receiver.posts[0]["text"]


class SleepLog(FakeClock):
    """A frozen clock that records what is slept on it."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


async def test_webhook_retries_with_doubling_delays(receiver: Receiver) -> None:
    receiver.flaky = 2  # two 503s, then taken
    clock = SleepLog()
    await WebhookAlerts(receiver.url, retries=3, clock=clock)(Alert("failed", "work", "w-1", "down"))
    assert clock.sleeps == [0.5, 1.0]
    assert [p["kind"] for p in receiver.posts] == ["failed"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_killed_instance_is_seen_and_comes_back(tmp_path: Path) -> None:
    alerts: list[Alert] = []
    async with MCPManager(
        fleet(tmp_path / "home", work=own_server("work_server.py")), auto_install=True
    ) as manager:
        await manager.start_server("work")
        instance = manager.get_server_instances("work")[0]
        monitor = HealthMonitor(manager, interval=0.1, alert_threshold=1, alerts=[alerts.append])
        assert instance.pid is not None
        os.killpg(instance.pid, signal.SIGKILL)
        await asyncio.sleep(0.05)
        status = await monitor.round()  # within one interval: seen as down
        assert not status["work"]["healthy"]
        await wait_for(lambda: instance.state.value == "ready")  # the supervisor restarted it
        status = await monitor.round()
        assert status["work"]["healthy"] and instance.restarts == 1


async def test_crashing_on_start_is_alerted_once_without_a_restart_storm(tmp_path: Path) -> None:
    flag = tmp_path / "broken"
    policy = RestartPolicy(max_restarts=2, window=60, backoff_initial=0.05, backoff_max=0.1)
    spec = own_server("toy.py", "--exit-if", str(flag), restart=policy)
    alerts: list[Alert] = []
    async with MCPManager(fleet(tmp_path / "home", toy=spec), auto_install=True) as manager:
        await manager.start_server("toy")
        instance = manager.get_server_instances("toy")[0]
        monitor = HealthMonitor(manager, interval=0.1, alert_threshold=1, alerts=[alerts.append])
        await monitor.start()
        try:
            flag.write_text("x")  # from now on it dies at start
            assert instance.pid is not None
            os.killpg(instance.pid, signal.SIGKILL)
            await wait_for(lambda: "failed" in [a.kind for a in alerts])
            restarts = instance.restarts
            await asyncio.sleep(1.0)  # many rounds later: nothing more
            # One alert per stage of the episode: "unhealthy" when a round caught it down (it may
            # have given up before any round did), then "failed" once; no alert per restart.
            assert [a.kind for a in alerts] in (["failed"], ["unhealthy", "failed"])
            assert instance.restarts == restarts == 2
            assert "gave up after 2 restarts" in alerts[-1].message
        finally:
            await monitor.stop()


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="alert_threshold"):
        HealthMonitor(None, alert_threshold=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="http"):
        WebhookAlerts("hooks.example.com")


async def test_a_dead_backup_is_found_by_the_rounds(tmp_path: Path) -> None:
    async with MCPManager(
        fleet(tmp_path / "home", work=own_server("work_server.py")), auto_install=True
    ) as manager:
        await manager.configure_failover("work", None, [f"http://127.0.0.1:{free_port()}/mcp"])
        await manager.start_server("work")
        await HealthMonitor(manager, timeout=2.0, alerts=[]).round()
        assert [t.healthy for t in manager.load_balancer.backups("work")] == [False]
        assert [t.healthy for t in manager.load_balancer.targets("work")] == [True]


async def test_a_server_that_could_not_start_is_started_when_it_can(tmp_path: Path) -> None:
    """A remote server that is not up yet when the fleet starts: tried again with backoff,
    alerted once, started (and "recovered") as soon as it answers."""
    port = free_port()
    spec = ServerSpec(package=RemotePackage(url=f"http://127.0.0.1:{port}/mcp"), startup_timeout=2)
    alerts: list[Alert] = []
    async with MCPManager(fleet(tmp_path / "home", late=spec), auto_install=True) as manager:
        assert (await manager.start_all())["late"] != "ready"
        assert manager.running_servers() == [] and manager.wanted == {"late"}
        monitor = HealthMonitor(manager, interval=0.1, alerts=[alerts.append])
        await monitor.start()
        try:
            await wait_for(lambda: [a.kind for a in alerts] == ["unhealthy"])
            async with serve_http("work_server.py", "--http", "{port}", port=port):
                await wait_for(lambda: manager.running_servers() == ["late"], within=30)
                await wait_for(lambda: [a.kind for a in alerts] == ["unhealthy", "recovered"])
                assert "lookup" in {t.name for t in await manager.list_tools("late")}
        finally:
            await monitor.stop()
        await manager.stop_server("late")
        assert manager.wanted == set()  # stopped on purpose: not started again


async def test_a_server_that_cannot_start_shows_when_it_is_tried_and_one_that_gave_up_is_left(
    tmp_path: Path,
) -> None:
    """A crashing server backs off (its next try in its state, its tries counted as restarts); one
    whose start failed for good (not installed) is alerted on once and never tried again."""
    crashing = own_server("toy.py", "--mode", "exit")
    config = fleet(tmp_path / "home", crashing=crashing, ghost=own_server("toy.py"))
    alerts: list[Alert] = []
    clock = FakeClock()
    async with MCPManager(config, auto_install=True) as manager:
        await manager.install("crashing")
        manager.auto_install = False  # as `mcpfleet up`: ghost's install is missing, and stays so
        assert set((await manager.start_all()).values()) != {"ready"}
        assert manager.server_state("ghost").state is ServerState.GAVE_UP
        monitor = HealthMonitor(manager, interval=5.0, alerts=[alerts.append], clock=clock)
        for tries in (1, 2, 3):
            status = await monitor.round()
            await wait_for(lambda: tried(manager, "crashing") == tries)  # noqa: B023 (awaited at once)
            clock.advance(60)  # the next try is due
        state = manager.server_state("crashing")
        assert state.state is ServerState.BACKING_OFF and state.restarts == 3
        assert state.next_try is not None and state.next_try > time.time()  # 5, 10, then 20 s
        assert "fatal: missing configuration" in (state.last_error or "")
        assert status["crashing"]["state"] == "backing_off" and not status["crashing"]["healthy"]
        assert status["crashing"]["error"].startswith("backing off (")
        ghost = manager.server_state("ghost")
        assert ghost.state is ServerState.GAVE_UP and ghost.restarts == 0  # never tried again
        assert status["ghost"]["error"] == ghost.summary() and ghost.summary().startswith("gave up: ")
        assert [(a.kind, a.server) for a in alerts] == [("failed", "ghost"), ("unhealthy", "crashing")]
        assert "not installed" in alerts[0].message and "mcpfleet restart ghost" in alerts[0].message


def tried(manager: MCPManager, server: str) -> int | None:
    """How many times a server was tried again, once that try is over (None while it runs)."""
    state = manager.server_state(server)
    return None if state.state is ServerState.STARTING else state.restarts
