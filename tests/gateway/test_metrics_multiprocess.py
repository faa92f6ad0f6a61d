"""Two gateway processes sharing PROMETHEUS_MULTIPROC_DIR: either one's /metrics serves the sums,
and a process that stops takes its live state with it but not the calls it counted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import fleet, free_port, own_server, wait_port
from mcpfleet.config import dump_config

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


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
