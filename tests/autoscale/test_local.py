"""The local backend with real processes: a fleet of work_server.py scaled up by concurrent slow
calls and down again with no call cut, and the CPU and memory of real process trees
(autoscale/process.py, which the local scaler samples)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import fleet, own_server
from mcpfleet.autoscale import AutoScaler, LocalScaler
from mcpfleet.autoscale.process import ProcessTreeSampler
from mcpfleet.exceptions import ScalingError
from mcpfleet.manager import MCPManager
from mcpfleet.monitoring import HealthMonitor

pytestmark = pytest.mark.timeout(60)


async def wait_for(predicate: Callable[[], bool], within: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within}s")
        await asyncio.sleep(0.02)


async def test_real_fleet_scales_up_under_slow_calls_and_down_without_cutting_a_call(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=1))
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("work")
        scaled: list[tuple[int, int, float]] = []

        def on_event(server: str, method: str, params: dict[str, Any]) -> None:
            if method == "mcpfleet/scaled":
                scaled.append((params["from"], params["to"], time.monotonic()))

        manager.add_listener(on_event)
        autoscaler = AutoScaler(
            manager, min_instances=1, max_instances=3, target_in_flight=2, target_cpu=None,
            target_memory=None, scale_up_threshold=2, scale_down_threshold=2, scale_up_cooldown=0,
            scale_down_cooldown=0, step="proportional", interval=0.05, drain_timeout=20,
        )  # fmt: skip
        failures: list[BaseException] = []
        calls = 0
        stop = asyncio.Event()

        async def worker(i: int) -> None:
            nonlocal calls
            while not stop.is_set():
                try:
                    result = await manager.execute_tool("work", "lookup", {"key": f"w{i}", "delay": 0.3})
                    assert not result.get("isError"), result
                    calls += 1
                except BaseException as exc:  # any failed call fails the test below
                    failures.append(exc)
                    raise

        await autoscaler.start()
        try:
            workers = [asyncio.create_task(worker(i)) for i in range(5)]  # 5 in flight: needs 3 at 2 each
            await wait_for(lambda: bool(scaled), what="scale-up")
            assert [(a, b) for a, b, _ in scaled] == [(1, 3)]
            instances = manager.get_server_instances("work")
            # One long call pinned to each instance, while the load still holds them at 3.
            ended: dict[str, float] = {}

            async def long_call(instance_id: str) -> str:
                result = await manager.request(
                    "work", "tools/call", {"name": "lookup", "arguments": {"key": instance_id, "delay": 2.0}},
                    pin=[instance_id],
                )  # fmt: skip
                ended[instance_id] = time.monotonic()
                return str(result["content"][0]["text"])

            longs = {i.id: asyncio.create_task(long_call(i.id)) for i in instances}
            pids = {i.id: i.pid for i in instances}
            await wait_for(lambda: manager.load_balancer.in_flight("work") >= 8, what="long calls in flight")
            stop.set()
            await asyncio.gather(*workers)
            await wait_for(lambda: scaled[-1][1] == 1, what="scale-down to 1")
        finally:
            stop.set()
            await autoscaler.stop()
        assert not failures and calls > 0
        answers = {iid: await task for iid, task in longs.items()}
        for iid, answer in answers.items():  # every long call ran to its end on its own instance
            assert answer == f"{iid}@{pids[iid]}"
        removed = [iid for iid in pids if iid not in {i.id for i in manager.get_server_instances("work")}]
        assert len(removed) == 2
        first_down = next(t for a, b, t in scaled if a == 3)
        victim = max(removed, key=lambda iid: int(iid.rsplit("-", 1)[1]))  # the newest of equals goes first
        assert ended[victim] <= first_down, "an instance was removed before its call finished"
        for iid in removed:
            with pytest.raises(ProcessLookupError):
                os.kill(pids[iid], 0)  # type: ignore[arg-type]
        assert [d.direction for d in autoscaler.decisions] == ["up", "down", "down"]
        assert autoscaler.decisions[0].detail.startswith("in-flight ")


async def test_scale_server_keeps_an_instance_whose_calls_outlast_the_drain(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=1))
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("work")
        assert await manager.scale_server("work", 2) == 2
        lb = manager.load_balancer
        ids = {i.id for i in manager.get_server_instances("work")}
        assert {t.id for t in lb.targets("work")} == ids  # the balancer and the supervisor agree
        status = await HealthMonitor(manager, alerts=[]).check_server("work")
        assert sorted(d["id"] for d in status["instances"] if d["healthy"]) == sorted(ids)

        async def busy(instance_id: str) -> dict[str, Any]:
            params = {"name": "lookup", "arguments": {"key": "k", "delay": 1.5}}
            return await manager.request("work", "tools/call", params, pin=[instance_id])

        calls = [asyncio.create_task(busy(i)) for i in sorted(ids)]
        await wait_for(lambda: lb.in_flight("work") == 2, what="both busy")
        assert await manager.scale_server("work", 1, drain_timeout=0.2) == 2  # kept: still busy
        assert all(t.available() for t in lb.targets("work"))  # and back in rotation
        results = await asyncio.gather(*calls)
        assert all(not r.get("isError") for r in results)
        assert await manager.scale_server("work", 1, drain_timeout=5) == 1
        assert len(lb.targets("work")) == 1
        with pytest.raises(ScalingError, match="run at least 1"):
            await manager.scale_server("work", 0)


async def test_scale_server_refuses_a_server_that_is_not_running(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", work=own_server("work_server.py"))
    async with MCPManager(config, auto_install=True) as manager:
        with pytest.raises(Exception, match="start it first"):
            await manager.scale_server("work", 2)


def test_process_tree_usage_is_attributed_to_its_tree() -> None:
    busy_child = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'while True: pass']); time.sleep(60)"  # noqa: E501
    tree = subprocess.Popen([sys.executable, "-c", busy_child], start_new_session=True)
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    sampler = ProcessTreeSampler()
    try:
        deadline = time.monotonic() + 15
        while True:
            usage = sampler.sample(tree.pid)
            quiet = sampler.sample(idle.pid)
            assert usage is not None and quiet is not None
            if len(usage.pids) == 2 and usage.cpu_percent > 50:
                break
            assert time.monotonic() < deadline, f"the busy child was never seen: {usage}"
            time.sleep(0.1)  # CPU share is measured over real time between two samples
        assert usage.pids[0] == tree.pid
        assert usage.cpu_percent < 100 * (os.cpu_count() or 1) + 20
        assert quiet.pids == (idle.pid,) and quiet.cpu_percent < 20
        assert 1 << 20 < usage.rss_bytes < 1 << 30 and usage.rss_bytes > quiet.rss_bytes
    finally:
        for process in (tree, idle):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert sampler.sample(tree.pid) is None


async def test_local_scaler_reads_each_instance_tree(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", toy=own_server("toy.py", instances=2))
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_server("toy")
        scaler = LocalScaler(manager)
        assert scaler.servers() == ["toy"]
        first = manager.get_server_instances("toy")[0]
        result = await manager.request("toy", "tools/call", {"name": "spawn_child"}, pin=[first.id])
        grandchild = int(result["content"][0]["text"])
        usage = await scaler.observe("toy")
        assert (usage.instances, usage.ready) == (2, 2)
        assert usage.cpu_percent is not None and 0 <= usage.cpu_percent < 100 * (os.cpu_count() or 1)
        assert usage.memory_bytes is not None and usage.memory_bytes > 1 << 20
        assert usage.memory_budget is not None and usage.memory_budget > usage.memory_bytes
        tree = scaler.sampler.sample(first.pid)  # type: ignore[arg-type]
        assert tree is not None and grandchild in tree.pids
        other = manager.get_server_instances("toy")[1]
        other_tree = scaler.sampler.sample(other.pid)  # type: ignore[arg-type]
        assert other_tree is not None and grandchild not in other_tree.pids
