"""Rolling updates with real processes under real load: no call fails, versions switch or roll back.

The "versions" are tests/servers/versioned.py started with ``--version X`` (a command package
whose args differ, given as the server's next ServerSpec); a bad release is the same script
with ``--broken-if FILE``: silent on tools/list (the health check times out) or exiting at once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import SERVERS, fleet, serve_gateway
from mcpfleet.cli.remote import AdminClient
from mcpfleet.config import CommandPackage, GatewayConfig, PypiPackage, ServerSpec
from mcpfleet.exceptions import FleetError, RolloutError
from mcpfleet.install import InstallLock
from mcpfleet.manager import MCPManager
from mcpfleet.rollout import Outcome, RolloutEvent
from mcpfleet.runtime import InstanceState

pytestmark = pytest.mark.timeout(60)


def versioned(version: str, *extra: str, instances: int = 3) -> ServerSpec:
    return ServerSpec(
        package=CommandPackage(command=sys.executable, version=version),
        args=[str(SERVERS / "versioned.py"), "--version", version, *extra],
        instances=instances,
    )


class Load:
    """``callers`` clients calling ``work`` in a loop until stopped; every failure is kept."""

    def __init__(
        self,
        manager: MCPManager,
        server: str,
        callers: int = 20,
        call: tuple[str, dict[str, Any]] = ("work", {"seconds": 0.005}),
    ) -> None:
        self.manager = manager
        self.server = server
        self.callers = callers
        self.call = call
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.calls = 0
        self._stop = asyncio.Event()
        self._progress = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []

    async def _caller(self) -> None:
        while not self._stop.is_set():
            try:
                result = await self.manager.execute_tool(self.server, *self.call)
            except Exception as exc:  # every kind of failure counts
                self.failures.append(repr(exc))
                continue
            if result.get("isError"):
                self.failures.append(str(result))
            else:
                self.versions[result["content"][0]["text"].split("@")[0]] += 1
            self.calls += 1
            async with self._progress:
                self._progress.notify_all()

    async def calls_more(self, count: int) -> None:
        """Return once ``count`` more calls have succeeded (the load really runs)."""
        goal = self.calls + count
        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(lambda: self.calls >= goal or self.failures), 20)

    @classmethod
    async def running(cls, manager: MCPManager, server: str, **options: Any) -> Load:
        load = cls(manager, server, **options)
        load._tasks = [asyncio.create_task(load._caller()) for _ in range(load.callers)]
        await load.calls_more(50)
        return load

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[MCPManager]:
    async with MCPManager(fleet(tmp_path / "home", app=versioned("1.0"))) as manager:
        await manager.install("app")
        await manager.start_server("app")
        yield manager


async def answers(manager: MCPManager) -> list[str]:
    """What each instance's process says it is, asked directly."""
    return [(await i.call_tool("version"))["content"][0]["text"] for i in manager.get_server_instances("app")]


def processes_with(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_an_update_under_load_loses_no_call_and_switches_everything(
    manager: MCPManager, tmp_path: Path
) -> None:
    old_pids = [i.pid for i in manager.get_server_instances("app")]
    lb = manager.load_balancer
    events: list[RolloutEvent] = []
    capacity: list[int] = []

    def progress(event: RolloutEvent) -> None:
        events.append(event)
        capacity.append(sum(1 for t in lb.targets("app") if t.available()))

    load = await Load.running(manager, "app")
    try:
        result = await manager.rolling_update(
            "app", versioned("2.0"), health_timeout=5, drain_timeout=5, progress=progress
        )
        await load.calls_more(100)
    finally:
        await load.stop()

    assert load.failures == []
    assert load.versions["1.0"] > 0 and load.versions["2.0"] > 0
    assert result.ok and (result.from_version, result.to_version, result.version) == ("1.0", "2.0", "2.0")
    assert [r.outcome for r in result.instances] == [Outcome.UPDATED] * 3
    assert {r.instance for r in result.instances} == {"app-0", "app-1", "app-2"}
    assert min(capacity) >= 3  # surge: a new instance joins before an old one leaves
    assert events[-1].step == "committed"

    instances = manager.get_server_instances("app")
    assert [i.state for i in instances] == [InstanceState.READY] * 3
    assert sorted(await answers(manager)) == sorted(f"2.0@{i.pid}" for i in instances)
    assert {t.id for t in lb.targets("app")} == {i.id for i in instances}
    for pid in old_pids:
        assert pid is not None
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # stopped and reaped

    assert manager.spec("app").package.version == "2.0"
    assert manager.spec("app").args[-1] == "2.0"
    record = InstallLock.load(manager.home.lock_file).get("app")
    assert record is not None and record.resolved == "2.0"
    assert "2.0" in (manager.home.configs / "app.yaml").read_text()
    row = manager.status()[0]
    assert row["version"] == "2.0" and {i["version"] for i in row["instances"]} == {"2.0"}


async def test_a_release_that_fails_its_health_check_midway_is_rolled_back(
    manager: MCPManager, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    events: list[RolloutEvent] = []

    def progress(event: RolloutEvent) -> None:
        events.append(event)
        if event.step == "updated":
            broken.touch()  # the first instance moved; from now on the release is bad

    load = await Load.running(manager, "app")
    try:
        with pytest.raises(RolloutError) as caught:
            await manager.rolling_update(
                "app",
                versioned("2.0", "--broken-if", str(broken)),
                health_timeout=1,
                drain_timeout=5,
                progress=progress,
            )
        await load.calls_more(100)
    finally:
        await load.stop()

    assert load.failures == []
    result = caught.value.result
    assert not result.ok and result.version == "1.0"
    assert [r.outcome for r in result.instances] == [Outcome.ROLLED_BACK, Outcome.FAILED, Outcome.NOT_REACHED]
    assert all(r.version == "1.0" for r in result.instances)
    message = str(caught.value)
    assert "from 1.0 to 2.0 stopped" in message
    assert "failed its health check: no answer to tools/list within 1s" in message
    assert "Rolled back 1 updated instance(s)" in message and "every instance runs 1.0" in message
    assert [e.step for e in events].count("rolled_back") == 1

    instances = manager.get_server_instances("app")
    assert [i.state for i in instances] == [InstanceState.READY] * 3
    assert sorted(await answers(manager)) == sorted(f"1.0@{i.pid}" for i in instances)
    assert len(manager.load_balancer.targets("app")) == 3
    assert processes_with(str(broken)) == []  # no process of the bad release is left
    assert manager.spec("app").package.version == "1.0"
    record = InstallLock.load(manager.home.lock_file).get("app")
    assert record is not None and record.resolved == "1.0"


async def test_a_release_that_cannot_start_changes_nothing(manager: MCPManager, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.touch()
    pids = [i.pid for i in manager.get_server_instances("app")]
    with pytest.raises(RolloutError) as caught:
        await manager.rolling_update(
            "app", versioned("2.0", "--broken-if", str(broken), "--broken-as", "exit"), health_timeout=5
        )
    message = str(caught.value)
    assert "did not start" in message and "exited with code 4" in message
    assert "broken release, exiting" in message  # its stderr says why
    assert "every instance runs 1.0" in message
    assert [r.outcome for r in caught.value.result.instances] == [
        Outcome.FAILED,
        Outcome.NOT_REACHED,
        Outcome.NOT_REACHED,
    ]
    assert [i.pid for i in manager.get_server_instances("app")] == pids
    assert manager.spec("app").package.version == "1.0"


async def test_the_guides_own_loop(manager: MCPManager, tmp_path: Path, capsys: Any) -> None:
    lb = manager.load_balancer
    manager.releases("app").health_timeout = 1.0  # what instance.update() allows a new version

    async def rolling_update(server_name: str, new_version: Any) -> None:
        """Perform rolling update of server instances."""
        instances = manager.get_server_instances(server_name)
        for instance in instances:
            # Remove from load balancer
            lb.remove_instance(server_name, instance.id)
            # Update instance
            await instance.update(new_version)
            # Health check
            if await instance.health_check():
                # Add back to load balancer
                lb.add_instance(server_name, instance.id, instance.url)
            else:
                print(f"Update failed for {instance.id}")
                # Rollback if needed
                await instance.rollback()

    load = await Load.running(manager, "app")
    try:
        await rolling_update("app", versioned("2.0"))
        await load.calls_more(50)
        broken = tmp_path / "broken"
        broken.touch()
        await rolling_update("app", versioned("3.0", "--broken-if", str(broken)))
        await load.calls_more(50)
    finally:
        await load.stop()

    assert load.failures == []
    out = capsys.readouterr().out
    assert out.splitlines() == [f"Update failed for app-{n}" for n in range(3)]
    instances = manager.get_server_instances("app")
    assert [i.id for i in instances] == ["app-0", "app-1", "app-2"]  # updated in place
    assert [i.state for i in instances] == [InstanceState.READY] * 3
    assert sorted(await answers(manager)) == sorted(f"2.0@{i.pid}" for i in instances)
    assert {t.id for t in lb.targets("app")} == {"app-0", "app-1", "app-2"}
    # Once all ran 2.0 it was committed; 3.0 never was.
    assert manager.spec("app").package.version == "2.0"
    record = manager.lock.get("app")
    assert record is not None and record.resolved == "2.0"
    assert processes_with(str(broken)) == []


async def test_an_update_of_a_server_that_is_not_running_is_checked_then_recorded(tmp_path: Path) -> None:
    async with MCPManager(fleet(tmp_path / "home", app=versioned("1.0"))) as manager:
        await manager.install("app")
        result = await manager.rolling_update("app", "1.1", health_timeout=5)
        assert result.ok and result.instances == () and result.version == "1.1"
        assert manager.spec("app").package.version == "1.1"
        started = await manager.start_server("app")
        assert {i.version for i in started} == {"1.1"}
        with pytest.raises(RolloutError, match="a version string"):
            await manager.rolling_update("app", " ")


async def test_the_admin_api_streams_an_update_of_a_live_fleet(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", app=versioned("1.0", instances=2))
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config) as manager:
        await manager.install("app")
        await manager.start_server("app")
        async with serve_gateway(manager) as url:
            admin = AdminClient(url)
            steps: list[str] = []
            body = {"spec": versioned("2.0", instances=2).model_dump(mode="json"), "health_timeout": 5}
            result = await admin.update("app", body, lambda e: steps.append(e["step"]))
            assert result["ok"] and result["version"] == "2.0"
            assert [r["outcome"] for r in result["instances"]] == ["updated", "updated"]
            assert steps[0] == "install" and steps[-1] == "committed" and steps.count("healthy") == 2
            assert {i["version"] for i in (await admin.status())[0]["instances"]} == {"2.0"}

            broken = tmp_path / "broken"
            broken.touch()
            bad = versioned("3.0", "--broken-if", str(broken), instances=2).model_dump(mode="json")
            with pytest.raises(RolloutError, match="failed its health check") as caught:
                await admin.update("app", {"spec": bad, "health_timeout": 0.5}, lambda e: None)
            assert caught.value.result["version"] == "2.0"
            with pytest.raises(FleetError, match='give either "version" or "spec"'):
                await admin.update("app", {"health_timeout": 5}, lambda e: None)
            with pytest.raises(FleetError, match="nope"):
                await admin.update("nope", {"version": "1"}, lambda e: None)


def mcpfleet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("MCPFLEET_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "mcpfleet", "--config", str(tmp_path / "mcpfleet.yaml"), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip


def test_the_command_line_updates_a_fleet_that_is_not_up(tmp_path: Path) -> None:
    server = {"package": {"type": "command", "command": sys.executable, "version": "1.0"}}
    server["args"] = [str(SERVERS / "versioned.py"), "--version", "1.0"]
    (tmp_path / "mcpfleet.yaml").write_text(yaml.safe_dump({"servers": {"app": server}}))
    script = str(SERVERS / "versioned.py")
    done = mcpfleet(tmp_path, "update", "app", "2.0", "--arg", script, "--arg=--version", "--arg", "2.0")
    assert done.returncode == 0, done.stderr
    assert "committed" in done.stdout and "app runs 2.0" in done.stdout
    written = yaml.safe_load((tmp_path / "mcpfleet.yaml").read_text())["servers"]["app"]
    assert written["package"]["version"] == "2.0" and written["args"][-1] == "2.0"

    broken = tmp_path / "broken"
    broken.touch()
    failed = mcpfleet(
        tmp_path, "update", "app", "3.0", "--health-timeout", "0.5",
        "--arg", script, "--arg=--version", "--arg", "3.0", "--arg=--broken-if", "--arg", str(broken),
    )  # fmt: skip
    assert failed.returncode == 1
    assert "failed its health check" in failed.stderr and "still say 2.0" in failed.stderr
    assert yaml.safe_load((tmp_path / "mcpfleet.yaml").read_text())["servers"]["app"] == written


@pytest.mark.slow
@pytest.mark.pypi
async def test_a_real_pypi_server_moves_to_its_next_release_through_uv(tmp_path: Path) -> None:
    old, new = "2026.10.10", "2026.10.19"  # two releases of mcp-server-time
    spec = ServerSpec(package=PypiPackage(name="mcp-server-time", version=old), instances=2)
    async with MCPManager(fleet(tmp_path / "home", time=spec)) as manager:
        await manager.install("time")
        before = manager.lock.get("time")
        assert before is not None and before.resolved == old
        await manager.start_server("time")
        load = await Load.running(manager, "time", callers=10, call=("get_current_time", {"timezone": "UTC"}))
        try:
            result = await manager.rolling_update("time", new, health_timeout=20, drain_timeout=5)
            await load.calls_more(50)
        finally:
            await load.stop()
        assert load.failures == []
        assert result.ok and result.from_version == old and result.version == new

        after = manager.lock.get("time")
        assert after is not None and after.resolved == after.requested == new
        assert manager.spec("time").package.version == new
        slots = sorted(manager.home.server_dir("time").glob("i*"))
        assert slots == [Path(after.detail["path"])]  # the new slot; the old one went at the switch
        for instance in manager.get_server_instances("time"):
            assert instance.version == new and instance.state is InstanceState.READY
            assert instance.launch.command[0].startswith(after.detail["path"])

        with pytest.raises(RolloutError, match=r"PyPI has no mcp-server-time 1999\.1\.1") as caught:
            await manager.rolling_update("time", "1999.1.1")
        assert "Nothing changed; time still runs 2026.10.19" in str(caught.value)
        assert sorted(manager.home.server_dir("time").glob("i*")) == slots
