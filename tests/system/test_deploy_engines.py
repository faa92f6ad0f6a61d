"""The rendered files run: podman-compose and `podman kube play`, host networking only.

Skipped, saying why, where podman does not work (a fresh CI machine has none: install it with
`apt-get install podman runc uidmap`). The image is built here from this machine's own Python
without any registry (see deploy_helpers.build_image: its base layer is cached by content,
so only the first run after the venv changes pays the half minute, or minutes under load, of
building it); podman runs with the CONTAINERS_CONF this machine needs (runc, explicit ulimits).
Every container, pod and test image a test starts is removed by that test.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deploy_helpers import SERVERS, build_image, call_tool, podman_missing, write_containers_conf
from mcpfleet.config import CommandPackage, FleetConfig, ServerSpec
from mcpfleet.deploy.compose import compose_down, find_engine, render_compose
from mcpfleet.deploy.kubernetes import render_manifests
from mcpfleet.manager import MCPManager

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # the first run builds the image


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("engine")
    conf = write_containers_conf(folder)
    reason = podman_missing(conf)
    if reason is not None:
        pytest.skip(reason)
    previous = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    name = build_image(folder)
    try:
        yield name
    finally:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True, timeout=120)
        if previous is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = previous


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=120)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for _ in range(200):
        first = random.randrange(20000, 60000 - count)
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError("no block of free ports")


def small_fleet(**extra: Any) -> FleetConfig:
    python = CommandPackage(command=sys.executable)
    return FleetConfig(
        servers={
            "toy": ServerSpec(
                package=python, args=[str(SERVERS / "toy.py")], env={"TOY_TOKEN": "${TOY_TOKEN}"}
            ),
            "work": ServerSpec(package=python, args=[str(SERVERS / "work_server.py")]),
        },
        **extra,
    )


async def test_compose_up_serves_tools_through_the_gateway(image: str, tmp_path: Path) -> None:
    first = free_ports(3)
    project = f"mcpfleet-test-{uuid.uuid4().hex[:8]}"
    files = render_compose(
        small_fleet(), tmp_path, image=image, environ={"TOY_TOKEN": "t0k3n"}, gateway_port=first,
        base_port=first + 1, project=project,
    )  # fmt: skip
    ours = ("ps", "-a", "--format", "{{.Names}}", "--filter", f"label=io.podman.compose.project={project}")
    engine = await find_engine()
    assert engine.name == "podman-compose"
    try:
        url = await MCPManager(FleetConfig()).deploy_with_docker(files.compose_file, files.env_file)
        assert url == f"http://127.0.0.1:{first}"
        echoed = await call_tool(url, "toy__echo", text="through two containers")
        assert echoed["content"][0]["text"] == "through two containers"
        looked = await call_tool(url, "work__lookup", key="k")
        assert looked["content"][0]["text"].startswith("k@")
        async with httpx.AsyncClient(timeout=10) as http:
            ready = (await http.get(f"{url}/readyz")).json()
        assert ready["ready"] is True and ready["not_ready"] == {}, ready
        names = podman(*ours).stdout.split()
        assert sorted(names) == sorted(
            f"{project}_{s}_1" for s in ("mcp-toy", "mcp-work", "mcpfleet-gateway")
        )
    finally:
        await compose_down(files.compose_file, files.env_file, engine=engine)
    assert podman(*ours).stdout.strip() == ""  # down removed every container it started


async def test_kube_play_runs_the_deployments(image: str, tmp_path: Path) -> None:
    """The ConfigMap and the Deployments under `podman kube play` (host network). Podman 4.3 reads a
    Secret's values in its own format, not Kubernetes', so this fleet has no secret to read."""
    first = free_ports(3)
    fleet = small_fleet(auth={"mode": "none"})
    fleet.servers["toy"].env = {}
    manifests = render_manifests(
        fleet, image=image, environ={}, host_network=True, bind="127.0.0.1",
        gateway_port=first, base_port=first + 1,
    )  # fmt: skip
    suffix = uuid.uuid4().hex[:6]
    config_map = next(m for m in manifests if m["kind"] == "ConfigMap")
    config_map["metadata"]["name"] += f"-{suffix}"  # names of their own, removed below
    deployments = [m for m in manifests if m["kind"] == "Deployment"]
    for m in deployments:
        m["metadata"]["name"] += f"-{suffix}"
        m["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"] = config_map["metadata"]["name"]
    kube = tmp_path / "fleet.yaml"
    kube.write_text(yaml.safe_dump_all([config_map, *deployments], sort_keys=False))
    run = podman("kube", "play", str(kube))
    try:
        assert run.returncode == 0, run.stderr
        urls = [f"http://127.0.0.1:{port}" for port in (first, first + 1, first + 2)]
        assert await wait_healthy(urls, within=60) == urls
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(60):  # the gateway waited for its servers; now it serves them
                if (await http.get(f"{urls[0]}/readyz")).status_code == 200:
                    break
                await asyncio.sleep(1)
        echoed = await call_tool(urls[0], "toy__echo", text="kube")
        assert echoed["content"][0]["text"] == "kube"
    finally:
        podman("kube", "down", str(kube))
        for m in deployments:  # what a failed play may have left behind
            podman("pod", "rm", "-f", f"{m['metadata']['name']}-pod-0")
        podman("volume", "rm", "-f", config_map["metadata"]["name"])
    pods = podman("pod", "ps", "--format", "{{.Name}}").stdout
    assert suffix not in pods


async def wait_healthy(urls: list[str], within: float) -> list[str]:
    healthy: list[str] = []
    async with httpx.AsyncClient(timeout=3) as http:
        for _ in range(int(within)):
            for url in urls:
                if url not in healthy:
                    try:
                        if (await http.get(f"{url}/healthz")).status_code == 200:
                            healthy.append(url)
                    except httpx.HTTPError:
                        pass
            if len(healthy) == len(urls):
                break
            await asyncio.sleep(1)
    return sorted(healthy, key=urls.index)
