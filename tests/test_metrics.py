"""/metrics scraped over HTTP and parsed with Prometheus' own text parser, checked against the
calls made; and two gateway processes sharing PROMETHEUS_MULTIPROC_DIR: either one's /metrics
serves the sums, and a process that stops takes its live state with it but not the calls it counted."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from mcp import Client
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families

from helpers import fleet, free_port, own_server, serve_gateway, wait_port
from mcpfleet.config import GatewayConfig, dump_config
from mcpfleet.exceptions import FleetError
from mcpfleet.manager import MCPManager
from mcpfleet.metrics import MetricsCollector
from mcpfleet.pooling import ConnectionPool

DEPLOY = Path(__file__).parents[1] / "deploy"


pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    config = fleet(
        tmp_path / "home", echo=own_server("echo_server.py"), work=own_server("work_server.py", instances=2)
    )
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config, auto_install=True, connection_pool=ConnectionPool()) as manager:
        assert set((await manager.start_all()).values()) == {"ready"}
        async with serve_gateway(manager) as gateway_url:
            yield gateway_url


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_the_calls_made(url: str) -> None:
    async with Client(f"{url}/mcp") as client:
        for i in range(3):
            await client.call_tool("echo__echo", {"text": str(i)})
        for _ in range(2):
            await client.call_tool("work__lookup", {"key": "k"})
        failed = await client.call_tool("echo__add", {"a": "not a number", "b": 1})
        assert failed.is_error
        with pytest.raises(Exception, match="Unknown tool"):
            await client.call_tool("made__up_by_the_client", {})
    async with Client(f"{url}/servers/echo/mcp") as client:
        made_up = await client.call_tool("made_up_by_the_client", {})  # the server says no such tool
        assert made_up.is_error
    async with httpx.AsyncClient(timeout=30) as http:
        # The admin API (what `mcpfleet call` uses) goes through the same middlewares.
        admin = await http.post(f"{url}/api/v1/servers/work/tools/lookup", json={"key": "k"})
        assert admin.status_code == 200, admin.text
        typo = await http.post(f"{url}/api/v1/servers/work/tools/lookpu", json={"key": "k"})
        assert typo.status_code == 404 and "Did you mean 'lookup'?" in typo.json()["error"]
        response = await http.get(f"{url}/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    assert value(found, "mcp_requests_total", server="echo", tool="echo") == 3
    assert value(found, "mcp_requests_total", server="work", tool="lookup") == 3
    assert value(found, "mcp_requests_total", server="echo", tool="unlisted") == 1
    assert value(found, "mcp_requests_total", server="echo", tool="add") == 1
    assert value(found, "mcp_errors_total", server="echo", error_type="tool_error") == 2  # add, made up
    assert value(found, "mcp_errors_total", server="unknown", error_type="invalid_request") == 1
    assert value(found, "mcp_latency_seconds_count", server="echo") == 5
    assert value(found, "mcp_latency_seconds_sum", server="work") > 0
    assert value(found, "mcp_active_servers") == 2
    assert value(found, "mcp_instances", server="work", state="ready") == 2
    assert value(found, "mcp_in_flight_calls", server="work") == 0
    assert value(found, "mcp_install_duration_seconds", server="work", outcome="ok") > 0
    assert not any("made" in dict(labels).get("tool", "") for _, labels in found)
    assert not any(dict(labels).get("tool") == "lookpu" for _, labels in found)


def test_the_guide_api_without_a_fleet() -> None:
    metrics = MetricsCollector()
    metrics.track_request("filesystem", "read_file", 0.012, True)
    metrics.track_request("filesystem", "read_file", 0.5, False, "timeout")
    metrics.update_active_servers(7)
    found = samples(metrics.render().decode())
    assert value(found, "mcp_requests_total", server="filesystem", tool="read_file") == 2
    assert value(found, "mcp_errors_total", server="filesystem", error_type="timeout") == 1
    assert value(found, "mcp_active_servers") == 7
    assert value(found, "mcp_latency_seconds_bucket", server="filesystem", le="0.025") == 1


def test_each_server_and_tool_keeps_its_own_counts() -> None:
    metrics = MetricsCollector()  # the label children are looked up once per (server, tool)
    for server, tool, seconds in [("a", "x", 0.001), ("a", "y", 0.2), ("b", "x", 3.0), ("a", "x", 0.2)]:
        metrics.track_request(server, tool, seconds, True)
    found = samples(metrics.render().decode())
    assert value(found, "mcp_requests_total", server="a", tool="x") == 2
    assert value(found, "mcp_requests_total", server="a", tool="y") == 1
    assert value(found, "mcp_requests_total", server="b", tool="x") == 1
    assert value(found, "mcp_latency_seconds_count", server="a") == 3
    assert value(found, "mcp_latency_seconds_bucket", server="b", le="2.5") == 0


async def test_each_server_is_in_one_state_and_its_restarts_are_counted(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", toy=own_server("toy.py"), ghost=own_server("toy.py"))
    async with MCPManager(config) as manager:
        await manager.install("toy")
        await manager.start_server("toy")
        with pytest.raises(FleetError):
            await manager.start_server("ghost")  # not installed: given up on
        await manager.restart_server("toy")
        found = samples(MetricsCollector(manager).render().decode())
    states = {
        dict(labels)["server"]: dict(labels)["state"]
        for (name, labels), v in found.items()
        if name == "mcp_server_state" and v == 1
    }
    assert states == {"toy": "ready", "ghost": "gave_up"}  # one state each
    assert sum(v for (name, _), v in found.items() if name == "mcp_server_state") == 2
    assert value(found, "mcp_server_state", server="ghost", state="backing_off") == 0  # every state is served
    assert value(found, "mcp_server_restarts_total", server="toy") == 0  # restart_server is on purpose
    assert value(found, "mcp_server_restarts_total", server="ghost") == 0


async def test_alert_rules_and_dashboard_use_only_metrics_we_serve(url: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        await http.get(f"{url}/api/v1/health")  # a health round, so its metrics exist
        async with Client(f"{url}/mcp") as client:
            await client.call_tool("echo__echo", {"text": "x"})
        families = list(text_string_to_metric_families((await http.get(f"{url}/metrics")).text))
    # Declared families count too: a labelled counter has no sample before its first event.
    served = {s.name for f in families for s in f.samples} | {f.name for f in families}
    served |= {f"{f.name}_total" for f in families if f.type == "counter"}
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((DEPLOY / "grafana" / "mcpfleet-dashboard.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bmcp_[a-z_]+", expr)}
    assert used and used <= served, f"not served: {sorted(used - served)}"


async def test_lists_and_reads_are_counted_by_method(url: str) -> None:
    async with Client(f"{url}/servers/echo/mcp", mode="legacy") as client:
        await client.list_tools()
        await client.list_prompts()
        with pytest.raises(MCPError):  # the upstream's own error, passed through
            await client.get_prompt("no-such-prompt")
    async with httpx.AsyncClient(timeout=10) as http:
        found = samples((await http.get(f"{url}/metrics")).text)
    assert value(found, "mcp_protocol_requests_total", method="tools/list", outcome="ok") >= 1
    assert value(found, "mcp_protocol_requests_total", method="prompts/list", outcome="ok") >= 1
    refused = {labels for (name, labels) in found if name == "mcp_protocol_requests_total"}
    assert any(("method", "prompts/get") in labels and ("outcome", "ok") not in labels for labels in refused)


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def two_gateways(tmp_path: Path) -> Iterator[tuple[list[str], list[subprocess.Popen[bytes]]]]:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    config_file = tmp_path / "mcpfleet.yaml"
    config_file.write_text(dump_config(fleet(tmp_path / "unused", toy=own_server("toy.py"))))
    processes, urls = [], []
    logs = [(tmp_path / f"up{n}.log").open("wb") for n in (1, 2)]
    for n, log in zip((1, 2), logs, strict=True):
        port = free_port()
        env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(shared),
            "MCPFLEET_HOME": str(tmp_path / f"home{n}"),
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "mcpfleet", "-c", str(config_file), "up", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls, processes
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
        for log in logs:
            log.close()


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_either_process_serves_the_sums(
    two_gateways: tuple[list[str], list[subprocess.Popen[bytes]]],
) -> None:
    urls, processes = two_gateways
    for url in urls:
        await wait_port(int(url.rsplit(":", 1)[1]), within=60)
    async with httpx.AsyncClient(timeout=30) as http:
        for url, calls in zip(urls, (3, 2), strict=True):
            for i in range(calls):
                reply = await http.post(f"{url}/api/v1/servers/toy/tools/echo", json={"text": str(i)})
                assert reply.status_code == 200, reply.text
        first, second = [scrape((await http.get(f"{url}/metrics")).text) for url in urls]
        echo = ("mcp_requests_total", frozenset({("server", "toy"), ("tool", "echo")}))
        ready = ("mcp_instances", frozenset({("server", "toy"), ("state", "ready")}))
        assert first[echo] == 5 and second[echo] == 5
        assert first[("mcp_latency_seconds_count", frozenset({("server", "toy")}))] == 5
        assert first[ready] == 2  # one instance in each process
        assert first[("mcp_active_servers", frozenset())] == 1

        os.killpg(processes[1].pid, signal.SIGTERM)  # a clean stop
        await asyncio.to_thread(processes[1].wait, 30)
        after = scrape((await http.get(f"{urls[0]}/metrics")).text)
    assert after[echo] == 5  # calls it counted stay counted (rates stay right)
    assert after[ready] == 1  # its live state left with it
