"""Auto-scaling: the decision logic on injected readings and a fake clock; a real fleet of
work_server.py scaled up by concurrent slow calls and down again with no call cut; CPU and memory
of real process trees; the Kubernetes backend against a mocked API (no cluster runs here)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes.client import (
    AppsV1Api,
    CustomObjectsApi,
    V1Container,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1LabelSelector,
    V1ObjectMeta,
    V1PodSpec,
    V1PodTemplateSpec,
    V1ResourceRequirements,
)
from kubernetes.client.exceptions import ApiException

from helpers import FakeClock, fleet, own_server
from mcpfleet.autoscale import (
    AutoScaler,
    BaseScaler,
    Decider,
    KubernetesScaler,
    LocalScaler,
    Reading,
    ScalingTargets,
    Usage,
)
from mcpfleet.autoscale.process import ProcessTreeSampler
from mcpfleet.config import FleetConfig, parse_config
from mcpfleet.exceptions import ConfigError, ScalingError
from mcpfleet.latency import CallLatencies
from mcpfleet.manager import MCPManager
from mcpfleet.metrics import MetricsCollector
from mcpfleet.monitoring import HealthMonitor

pytestmark = pytest.mark.timeout(60)


async def wait_for(predicate: Callable[[], bool], within: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {within}s")
        await asyncio.sleep(0.02)


def targets(**settings: Any) -> ScalingTargets:
    base: dict[str, Any] = {
        "min_instances": 1, "max_instances": 10, "target_cpu": 70, "target_memory": None,
        "target_in_flight": 4, "scale_up_threshold": 3, "scale_down_threshold": 5,
        "scale_up_cooldown": 60, "scale_down_cooldown": 300,
    }  # fmt: skip
    return ScalingTargets(**{**base, **settings})


def reading(n: int, **signals: float | None) -> Reading:
    return Reading(instances=n, ready=n, **signals)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the decision, unit level


def test_scales_up_only_after_threshold_consecutive_checks_and_says_why() -> None:
    decider = Decider(FakeClock())
    policy = targets()
    assert decider.decide("work", policy, reading(2, in_flight=7.5, cpu=10)) is None
    assert decider.decide("work", policy, reading(2, in_flight=7.5, cpu=10)) is None
    decision = decider.decide("work", policy, reading(2, in_flight=7.5, cpu=10))
    assert decision is not None
    assert (decision.direction, decision.current, decision.desired) == ("up", 2, 3)
    assert decision.reason == "in_flight"
    assert decision.detail == "in-flight 7.5/instance over target 4 for 3 checks"


def test_a_check_back_in_band_restarts_the_streak() -> None:
    decider = Decider(FakeClock())
    policy = targets()
    for _ in range(2):
        assert decider.decide("work", policy, reading(2, in_flight=9)) is None
    assert decider.decide("work", policy, reading(2, in_flight=3.5)) is None  # within target, not idle
    assert decider.streak("work") == (0, 0)
    for _ in range(2):
        assert decider.decide("work", policy, reading(2, in_flight=9)) is None
    assert decider.decide("work", policy, reading(2, in_flight=9)) is not None


def test_any_signal_over_scales_up_and_names_the_worst() -> None:
    decider = Decider(FakeClock())
    policy = targets(scale_up_threshold=1, target_p95_ms=500)
    decision = decider.decide("work", policy, reading(3, in_flight=1, cpu=91, p95_ms=1500))
    assert decision is not None and decision.reason == "p95_latency"
    assert decision.detail == "p95 latency 1500 ms over target 500 ms, cpu 91% over target 70% for 1 checks"


def test_cooldown_holds_a_change_then_it_acts_when_the_cooldown_ends() -> None:
    clock = FakeClock()
    decider = Decider(clock)
    policy = targets(scale_up_threshold=2, scale_up_cooldown=60)
    for _ in range(2):
        decision = decider.decide("work", policy, reading(2, in_flight=9))
    assert decision is not None and decision.desired == 3
    for _ in range(5):  # still over target: the streak goes on, the cooldown holds it
        clock.now += 10
        assert decider.decide("work", policy, reading(3, in_flight=9)) is None
    clock.now += 10.5  # 60.5 s since the change
    decision = decider.decide("work", policy, reading(3, in_flight=9))
    assert decision is not None and (decision.current, decision.desired) == (3, 4)


def test_scale_down_needs_every_signal_under_hysteresis_for_threshold_checks() -> None:
    clock = FakeClock()
    decider = Decider(clock)
    policy = targets(target_in_flight=2, scale_down_threshold=5, hysteresis=0.7)
    # cpu 60% of a 70% target is under target but over 70% of it: no scale-down, ever.
    for _ in range(8):
        assert decider.decide("work", policy, reading(3, in_flight=0.2, cpu=60)) is None
    # 1.3/instance < 0.7 x 2 and 1.3 x 3/2 = 1.95 still fits in 2 instances: down after 5 checks.
    for _ in range(4):
        assert decider.decide("work", policy, reading(3, in_flight=1.3, cpu=5)) is None
    decision = decider.decide("work", policy, reading(3, in_flight=1.3, cpu=5))
    assert decision is not None and (decision.direction, decision.desired) == ("down", 2)
    assert decision.reason == "idle"
    assert "under 70% of its target for 5 checks" in decision.detail
    assert "in-flight 1.3/instance vs target 2" in decision.detail


def test_no_scale_down_when_the_load_would_not_fit_in_one_less_instance() -> None:
    decider = Decider(FakeClock())
    policy = targets(target_in_flight=2, scale_down_threshold=1, scale_down_cooldown=0, hysteresis=0.75)
    # 1.45 < 0.75 x 2, but on 1 instance the 2 x 1.45 = 2.9 calls would be over target.
    assert decider.decide("work", policy, reading(2, in_flight=1.45)) is None
    assert decider.decide("work", policy, reading(2, in_flight=0.9)) is not None


def test_bounds_are_kept_and_corrected_at_once() -> None:
    decider = Decider(FakeClock())
    policy = targets(min_instances=2, max_instances=4, scale_up_threshold=1, scale_down_threshold=1)
    assert decider.decide("work", policy, reading(4, in_flight=50)) is None  # at max
    assert decider.decide("work", policy, reading(2, in_flight=0)) is None  # at min
    low = decider.decide("work", policy, reading(1, in_flight=0))
    assert low is not None and (low.desired, low.reason) == (2, "min_instances")
    high = decider.decide("work", policy, reading(6, in_flight=50))
    assert high is not None and (high.desired, high.reason) == (4, "max_instances")


def test_proportional_steps_follow_the_load_up_to_max_step() -> None:
    def desired(policy: ScalingTargets, n: int, in_flight: float) -> int:
        decision = Decider(FakeClock()).decide("work", policy, reading(n, in_flight=in_flight))
        assert decision is not None
        return decision.desired

    up = targets(step="proportional", max_step=4, scale_up_threshold=1, max_instances=20)
    assert desired(up, 2, in_flight=10) == 5  # ceil(2 x 10/4)
    assert desired(up, 2, in_flight=40) == 6  # 20 asked, max_step 4
    assert desired(up.model_copy(update={"max_instances": 4}), 2, in_flight=40) == 4
    down = targets(step="proportional", max_step=4, scale_down_threshold=1, scale_down_cooldown=0)
    assert desired(down, 6, in_flight=0.5) == 2  # ceil(6 x 0.5/4) = 1, but at most 4 fewer
    assert desired(down, 3, in_flight=0.5) == 1


def test_a_server_with_no_ready_instance_is_left_alone() -> None:
    decider = Decider(FakeClock())
    policy = targets(min_instances=1, scale_down_threshold=1, scale_down_cooldown=0)
    for _ in range(3):
        assert decider.decide("work", policy, Reading(instances=3, ready=0)) is None


def test_call_latencies_are_bounded_and_read_since_a_mark() -> None:
    latencies = CallLatencies(size=100)
    for i in range(1, 101):
        latencies.record("work", i / 1000)
    assert latencies.percentile("work", 95) == 0.095
    mark = latencies.mark("work")
    assert latencies.percentile("work", 95, since=mark) is None
    for _ in range(150):
        latencies.record("work", 2.0)
    assert latencies.since("work", mark) == [2.0] * 100  # only the newest `size` are kept
    assert latencies.percentile("other", 95) is None


# ---------------------------------------------------------------- config


def test_autoscale_section_with_per_server_overrides() -> None:
    config = parse_config(
        """
autoscale:
  enabled: true
  interval: 5
  min_instances: 1
  target_in_flight: 4
  servers:
    search: {max_instances: 20, target_in_flight: 8, target_cpu: null}
"""
    )
    assert config.autoscale.enabled and config.autoscale.interval == 5
    search = config.autoscale.policy_for("search")
    assert (search.min_instances, search.max_instances, search.target_in_flight) == (1, 20, 8)
    assert search.target_cpu is None
    other = config.autoscale.policy_for("other")
    assert (other.max_instances, other.target_in_flight, other.target_cpu) == (10, 4, 70)
    assert FleetConfig().autoscale.enabled is False


@pytest.mark.parametrize(
    ("yaml", "says"),
    [
        ("autoscale: {min_instances: 5, max_instances: 2}", "lower min_instances or raise max_instances"),
        ("autoscale: {servers: {search: {max_instances: 1}}}", "servers.search"),
        ("autoscale: {servers: {search: {interval: 3}}}", "interval cannot be set per server"),
        ("autoscale: {target_in_flight: 0}", "greater than 0"),
        ("autoscale: {step: double}", "'one' or 'proportional'"),
    ],
)
def test_bad_autoscale_config_says_what_to_change(yaml: str, says: str) -> None:
    with pytest.raises(ConfigError, match="autoscale") as caught:
        parse_config(yaml)
    assert says in str(caught.value)


def test_autoscaler_from_the_fleet_file(tmp_path: Path) -> None:
    config = parse_config(
        f"""
home: {tmp_path}
servers:
  work: {{package: {{type: command, command: python}}}}
autoscale: {{enabled: true, interval: 2, max_instances: 6, servers: {{work: {{target_p95_ms: 250}}}}}}
"""
    )
    autoscaler = AutoScaler.from_config(MCPManager(config))
    assert isinstance(autoscaler.scaler, LocalScaler) and autoscaler.interval == 2
    assert autoscaler.policy("work").target_p95_ms == 250 and autoscaler.policy("work").max_instances == 6
    assert autoscaler.policy("other").target_p95_ms is None


def test_bad_autoscaler_arguments_are_a_config_error(tmp_path: Path) -> None:
    manager = MCPManager(FleetConfig(home=str(tmp_path)))
    with pytest.raises(ConfigError, match="min_instances"):
        AutoScaler(manager, min_instances=5, max_instances=2)


# ---------------------------------------------------------------- the loop, on a fake backend


class FakeScaler(BaseScaler):
    """Instance counts in a dict: what a backend would report and do, with no processes."""

    def __init__(self, **counts: int) -> None:
        self.counts = counts
        self.cpu = dict.fromkeys(counts, 10.0)
        self.refuse = False
        self.scaled: list[tuple[str, int]] = []

    def servers(self) -> list[str]:
        return list(self.counts)

    async def observe(self, server: str) -> Usage:
        n = self.counts[server]
        return Usage(n, n, cpu_percent=self.cpu[server])

    async def scale(self, server: str, count: int, *, drain_timeout: float) -> int:
        if self.refuse:
            raise ScalingError("the backend refused")
        self.scaled.append((server, count))
        self.counts[server] = count
        return count


async def test_autoscaler_applies_decisions_calls_hooks_logs_and_exports_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    scaler = FakeScaler(api=2, db=2)
    manager = MCPManager(FleetConfig(home=str(tmp_path)))
    autoscaler = AutoScaler(
        manager=manager, min_instances=2, max_instances=10, target_cpu=70, target_memory=80,
        scale_up_threshold=3, scale_down_threshold=5, scaler=scaler, clock=clock,
        overrides={"db": {"max_instances": 3}},
    )  # fmt: skip
    ups: list[tuple[str, int]] = []
    downs: list[tuple[str, int]] = []

    async def on_down(server: str, n: int) -> None:
        downs.append((server, n))

    autoscaler.on_scale_up = lambda s, n: ups.append((s, n))
    autoscaler.on_scale_down = on_down
    scaler.cpu.update(api=95.0, db=95.0)
    caplog.set_level(logging.INFO, logger="mcpfleet.autoscale")
    for _ in range(3):
        decisions = await autoscaler.check()
    assert sorted((d.server, d.desired) for d in decisions) == [("api", 3), ("db", 3)]
    assert sorted(ups) == [("api", 3), ("db", 3)]
    assert "autoscale api: 2 -> 3 instances: cpu 95% over target 70% for 3 checks" in caplog.text

    for _ in range(3):  # db is at its own max; api waits out its cooldown
        clock.now += 20
        await autoscaler.check()
    assert scaler.counts == {"api": 4, "db": 3}

    scaler.cpu.update(api=1.0, db=1.0)
    clock.now += 300
    for _ in range(5):
        await autoscaler.check()
    assert sorted(downs) == [("api", 3), ("db", 2)]
    assert "autoscale api: 4 -> 3 instances: every signal under 70% of its target for 5 checks" in caplog.text

    scaler.refuse = True
    scaler.cpu.update(api=99.0)
    clock.now += 300
    for _ in range(3):
        await autoscaler.check()
    assert scaler.counts["api"] == 3 and autoscaler.failures == {("api", "up"): 1}
    assert "scaling up to 4 failed: the backend refused" in caplog.text

    scaler.refuse = False
    manager.load_balancer.set_mode("api", "maintenance")  # no calls on purpose: that is not idle
    scaler.cpu.update(api=1.0, db=50.0)
    clock.now += 300
    for _ in range(6):
        assert await autoscaler.check() == []
    assert scaler.counts == {"api": 3, "db": 2}

    metrics = MetricsCollector(manager)
    metrics.autoscaler = autoscaler
    text = metrics.render().decode()
    assert 'mcp_autoscale_decisions_total{direction="up",reason="cpu",server="api"} 3.0' in text
    assert 'mcp_autoscale_decisions_total{direction="down",reason="idle",server="db"} 1.0' in text
    assert 'mcp_autoscale_failures_total{direction="up",server="api"} 1.0' in text
    assert 'mcp_autoscale_desired_instances{server="api"} 4.0' in text
    assert 'mcp_autoscale_desired_instances{server="db"} 2.0' in text


# ---------------------------------------------------------------- real processes


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


# ---------------------------------------------------------------- Kubernetes, against a mocked API


def deployment(
    replicas: int, ready: int, cpu: str | None = "500m", memory: str | None = "256Mi"
) -> V1Deployment:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container = V1Container(name="server", resources=V1ResourceRequirements(requests=requests))
    return V1Deployment(
        metadata=V1ObjectMeta(name="mcp-search", namespace="mcp"),
        spec=V1DeploymentSpec(
            replicas=replicas,
            selector=V1LabelSelector(match_labels={"app": "mcp-search", "tier": "mcp"}),
            template=V1PodTemplateSpec(spec=V1PodSpec(containers=[container])),
        ),
        status=V1DeploymentStatus(replicas=replicas, ready_replicas=ready),
    )


def pod_metrics(*usages: tuple[str, str]) -> dict[str, Any]:
    items = [
        {
            "metadata": {"name": f"mcp-search-{i}"},
            "containers": [{"name": "server", "usage": {"cpu": c, "memory": m}}],
        }
        for i, (c, m) in enumerate(usages)
    ]
    return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": items}


def mocked_api() -> tuple[Any, Any]:
    """AppsV1Api and CustomObjectsApi mocks, specced on the real client (no cluster runs here)."""
    return create_autospec(AppsV1Api, instance=True), create_autospec(CustomObjectsApi, instance=True)


async def test_kubernetes_scaler_reads_replicas_and_pod_metrics_from_a_mocked_api() -> None:
    """Against a mocked AppsV1Api / CustomObjectsApi: no cluster runs in the test environment."""
    apps, custom = mocked_api()
    apps.read_namespaced_deployment.return_value = deployment(replicas=2, ready=2)
    custom.list_namespaced_custom_object.return_value = pod_metrics(("400m", "128Mi"), ("200m", "64Mi"))
    scaler = KubernetesScaler(apps, custom, servers=["search"], namespace="mcp")
    usage = await scaler.observe("search")
    apps.read_namespaced_deployment.assert_called_once_with("mcp-search", "mcp")
    custom.list_namespaced_custom_object.assert_called_once_with(
        "metrics.k8s.io", "v1beta1", "mcp", "pods", label_selector="app=mcp-search,tier=mcp"
    )
    assert (usage.instances, usage.ready) == (2, 2)
    assert usage.cpu_percent == pytest.approx(60.0)  # 400m and 200m of a 500m request
    assert usage.memory_bytes == 96 * 2**20 and usage.memory_budget == 256 * 2**20

    assert await scaler.scale("search", 4, drain_timeout=30) == 4
    apps.patch_namespaced_deployment_scale.assert_called_once_with(
        "mcp-search", "mcp", {"spec": {"replicas": 4}}
    )


async def test_kubernetes_scaler_without_metrics_server_or_deployment(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Against a mocked API (no cluster runs here): metrics.k8s.io missing, then the Deployment."""
    apps, custom = mocked_api()
    apps.read_namespaced_deployment.return_value = deployment(replicas=3, ready=1, cpu=None)
    custom.list_namespaced_custom_object.side_effect = ApiException(status=404, reason="Not Found")
    scaler = KubernetesScaler(apps, custom, servers={"search": "search-v2"})
    for _ in range(2):
        usage = await scaler.observe("search")
        assert (usage.instances, usage.ready, usage.cpu_percent) == (3, 1, None)
    assert caplog.text.count("install metrics-server") == 1
    apps.read_namespaced_deployment.side_effect = ApiException(status=404, reason="Not Found")
    with pytest.raises(ScalingError, match="apply the fleet's Kubernetes manifests"):
        await scaler.observe("search")
    apps.patch_namespaced_deployment_scale.side_effect = ApiException(status=403, reason="Forbidden")
    with pytest.raises(ScalingError, match="patch on deployments/scale"):
        await scaler.scale("search", 2, drain_timeout=30)
    with pytest.raises(ScalingError, match="scalable servers: search"):
        await scaler.observe("other")


async def test_autoscaler_drives_a_mocked_deployment(tmp_path: Path) -> None:
    """The AutoScaler behind the Kubernetes backend, against a mocked API (no cluster runs here):
    CPU over target on the pods' requests scales the Deployment up through its scale subresource."""
    apps, custom = mocked_api()
    replicas = {"n": 2}
    apps.read_namespaced_deployment.side_effect = lambda name, ns: deployment(replicas["n"], replicas["n"])
    apps.patch_namespaced_deployment_scale.side_effect = lambda name, ns, body: replicas.update(
        n=body["spec"]["replicas"]
    )
    custom.list_namespaced_custom_object.return_value = pod_metrics(("450m", "100Mi"), ("450m", "100Mi"))
    manager = MCPManager(FleetConfig(home=str(tmp_path)))
    scaler = KubernetesScaler(apps, custom, servers=["search"], namespace="mcp")
    ups: list[tuple[str, int]] = []
    autoscaler = AutoScaler(
        manager, min_instances=2, max_instances=5, target_cpu=70, scale_up_threshold=2,
        scaler=scaler, clock=FakeClock(), on_scale_up=lambda s, n: ups.append((s, n)),
    )  # fmt: skip
    for _ in range(2):
        await autoscaler.check()
    assert replicas["n"] == 3 and ups == [("search", 3)]
    apps.patch_namespaced_deployment_scale.assert_called_once_with(
        "mcp-search", "mcp", {"spec": {"replicas": 3}}
    )
    assert autoscaler.decisions[-1].detail == "cpu 90% over target 70% for 2 checks"


def test_from_cluster_without_credentials_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ScalingError, match="set KUBECONFIG"):
        KubernetesScaler.from_cluster(["search"])
