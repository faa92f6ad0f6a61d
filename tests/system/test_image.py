"""The gateway image (the repository's Containerfile) built and run under podman, host networking.

No registry is reachable here, so the public bases the Containerfile names are replaced with
stand-ins made from this machine (deploy_helpers.python_standin / node_standin) through its
``PYTHON_BASE`` / ``NODE_BASE`` build arguments; the build reaches PyPI for uv and the locked
dependencies. Skipped, saying why, where podman (with runc) does not work or the stand-ins
cannot be made. The container and the image a test builds are removed by it; podman keeps the
build's layers, so the next build after a change to src/ only rebuilds the wheel.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploy_helpers import (
    SERVERS,
    build_gateway_image,
    call_tool,
    podman_missing,
    standins_missing,
    write_containers_conf,
)
from helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
# A stdlib-only server of ours (a `command` server run by the image's Python), and a PyPI server
# the gateway installs at start with the uv inside the image.
FLEET = """
auth: none
servers:
  toy:
    package: {type: command, command: python}
    args: [/srv/servers/toy.py]
  time:
    package: {type: pypi, name: mcp-server-time, version: "2026.10.19"}
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("image")
    conf = write_containers_conf(folder)
    reason = podman_missing(conf, compose=False) or standins_missing()
    if reason is not None:
        pytest.skip(reason)
    previous = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    try:
        name = build_gateway_image(folder)
        try:
            yield name
        finally:
            podman("rmi", "-f", name)
    finally:
        if previous is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = previous


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)


async def wait_ready(url: str, container: str, within: float) -> None:
    last = "no answer"
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(int(within)):
            try:
                response = await http.get(f"{url}/readyz")
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(1)
    logs = podman("logs", "--tail", "40", container)
    raise AssertionError(f"not ready within {within} s ({last}):\n{logs.stdout}{logs.stderr}")


def test_the_image_is_as_documented(image: str) -> None:
    inspected = json.loads(podman("image", "inspect", image).stdout)[0]
    config = inspected["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["mcpfleet"] and config["Cmd"] == ["up", "--host", "0.0.0.0"]
    assert "MCPFLEET_CONFIG=/etc/mcpfleet/mcpfleet.yaml" in config["Env"]
    assert "MCPFLEET_HOME=/var/lib/mcpfleet" in config["Env"]
    assert inspected["Healthcheck"]["Test"][0] == "CMD"  # kept: built in the docker format
    assert "MCPFLEET_HEALTHCHECK_URL" in inspected["Healthcheck"]["Test"][-1]
    script = "id -u; node --version; npm --version; uv --version"
    script += "; python -c 'import mcpfleet; print(mcpfleet.__file__)'"
    tools = podman("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script)
    assert tools.returncode == 0, tools.stderr
    uid, node, npm, uv, module = tools.stdout.split("\n")[:5]
    assert uid == "10001"
    assert node.startswith("v") and npm[0].isdigit() and uv.startswith("uv ")
    assert module.startswith("/opt/mcpfleet/lib/")  # installed from the wheel, not the source tree
    print(f"image {image}: {inspected['Size'] / 1e6:.0f} MB")


async def test_run_call_a_tool_and_stop_cleanly(image: str, tmp_path: Path) -> None:
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(FLEET, encoding="utf-8")
    fleet.chmod(0o644)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    name = f"mcpfleet-image-{uuid.uuid4().hex[:8]}"
    run = podman(
        "run", "-d", "--name", name, "--network", "host",
        "-v", f"{fleet}:/etc/mcpfleet/mcpfleet.yaml:ro",
        "-v", f"{SERVERS / 'toy.py'}:/srv/servers/toy.py:ro",
        "-e", f"MCPFLEET_HEALTHCHECK_URL={url}/healthz",
        image, "up", "--host", "127.0.0.1", "--port", str(port),
    )  # fmt: skip
    try:
        assert run.returncode == 0, run.stderr
        await wait_ready(url, name, within=240)  # installs mcp-server-time from PyPI first
        echoed = await call_tool(url, "toy__echo", text="from inside the image")
        assert echoed["content"][0]["text"] == "from inside the image"
        now = await call_tool(url, "time__get_current_time", timezone="UTC")
        assert now.get("isError") is not True, now
        assert json.loads(now["content"][0]["text"])["timezone"] == "UTC"
        health = podman("healthcheck", "run", name)  # the image's HEALTHCHECK, run now
        assert health.returncode == 0, health.stdout + health.stderr
        state = json.loads(podman("inspect", "--format", "{{json .State}}", name).stdout)
        assert (state.get("Health") or state.get("Healthcheck"))["Status"] == "healthy", state
        stopped = podman("stop", "-t", "30", name, timeout=90)
        assert stopped.returncode == 0, stopped.stderr
        state = json.loads(podman("inspect", "--format", "{{json .State}}", name).stdout)
        # SIGTERM, then exit 0 well within the grace period (a SIGKILL after it would give 137).
        assert state["ExitCode"] == 0, podman("logs", "--tail", "40", name).stderr
    finally:
        podman("rm", "-f", "-v", name)
