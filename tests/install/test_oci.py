"""``oci`` servers, installed and run by mcpfleet under podman, sandboxed.

The image is the container tests' own (deploy_helpers.base_image: this Python and the test venv,
built here without any registry and cached); the server in it is tests/servers/sandbox_probe.py.
Two HTTP servers on 127.0.0.1 stand for the outside world: one on the server's allow-list, one
not. Skipped, saying why, where podman does not work; the egress case also needs root (a
network namespace of our own).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy_helpers import SERVERS, base_image, podman_missing, write_containers_conf
from helpers import fleet
from mcpfleet.config import OciPackage, ServerSpec
from mcpfleet.manager import MCPManager
from mcpfleet.sandbox.config import NetworkConfig, SandboxConfig
from sandbox_helpers import Origin, two_origins

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("oci")
    conf = write_containers_conf(folder)
    reason = podman_missing(conf, compose=False)
    if reason is not None:
        pytest.skip(reason)
    previous = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)  # the engine's settings reach `podman run` (ENGINE_ENV_KEYS)
    try:
        yield base_image(folder)  # cached by content; kept for the next run
    finally:
        if previous is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = previous


@pytest.fixture
async def origins() -> AsyncIterator[tuple[Origin, Origin]]:
    async with two_origins() as pair:
        yield pair


# The image holds the test venv at its own path; a checkout under /tmp would have it hidden by the
# sandbox's tmpfs there, so it is mounted back over it (read-only).
RUN_ARGS = [
    "--entrypoint", sys.executable,
    "-v", f"{sys.prefix}:{sys.prefix}:ro",
    "-v", f"{SERVERS / 'sandbox_probe.py'}:/srv/probe.py:ro",
]  # fmt: skip


def probe_server(image: str, **spec: Any) -> ServerSpec:
    name, _, tag = image.rpartition(":")
    return ServerSpec(
        package=OciPackage(
            image=name,
            version=tag,
            run_args=RUN_ARGS,
        ),
        args=["/srv/probe.py"],
        startup_timeout=60,
        **spec,
    )


async def text(manager: MCPManager, server: str, tool: str, **arguments: Any) -> str:
    result = await manager.execute_tool(server, tool, arguments, timeout=60)
    assert result.get("isError") is not True, result
    return str(result["content"][0]["text"])


async def test_the_allow_list_is_the_only_way_out(
    image: str, origins: tuple[Origin, Origin], tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("network.allow needs a network namespace of our own: run as root (rootful podman)")
    allowed, other = origins
    server = probe_server(
        image,
        sandbox=SandboxConfig(memory="256m", cpus=0.5, pids=64),
        network=NetworkConfig(allow=[f"127.0.0.1:{allowed.port}"]),
    )
    async with MCPManager(fleet(tmp_path / "home", fetcher=server)) as manager:
        await manager.install("fetcher")
        await manager.start_server("fetcher")
        reached = await text(manager, "fetcher", "fetch", url=f"http://127.0.0.1:{allowed.port}/data")
        assert reached == "200 hello from allowed"
        assert allowed.requests[0].startswith(b"GET /data HTTP/1.1")
        refused = await text(manager, "fetcher", "fetch", url=f"http://127.0.0.1:{other.port}/secret")
        assert refused.startswith(f"403 mcpfleet egress proxy: 127.0.0.1:{other.port} is not allowed")
        assert other.requests == []  # refused at the proxy: nothing reached the other server
        # Without the proxy there is no route at all: 127.0.0.1 in there is the sandbox's own.
        direct = await text(manager, "fetcher", "fetch", url=f"http://127.0.0.1:{allowed.port}/", proxy=False)
        assert direct.startswith("error:") and len(allowed.requests) == 1
        probed = await manager.execute_tool("fetcher", "probe", {}, timeout=60)
        logs = list((tmp_path / "home").rglob("*.log"))
    found = probed["structuredContent"]
    assert found["interfaces"] == ["lo"]
    assert found["memory"] == str(256 * 2**20)
    assert found["pids"] == "64" and found["cpu"].startswith("50000")
    refusal = f"mcpfleet egress: refused 127.0.0.1:{other.port} for server 'fetcher'"
    assert any(refusal in log.read_text(errors="replace") for log in logs)  # in the server's stderr log


async def test_by_default_no_network_read_only_and_no_privileges(
    image: str, origins: tuple[Origin, Origin], tmp_path: Path
) -> None:
    allowed, _ = origins
    async with MCPManager(fleet(tmp_path / "home", closed=probe_server(image))) as manager:
        await manager.install("closed")
        await manager.start_server("closed")
        fetched = await text(manager, "closed", "fetch", url=f"http://127.0.0.1:{allowed.port}/")
        probed = await manager.execute_tool("closed", "probe", {}, timeout=60)
    assert fetched.startswith("error:") and allowed.requests == []
    found = probed["structuredContent"]
    assert found["interfaces"] == ["lo"]  # --network none
    assert found["root_writable"] is False and found["tmp_writable"] is True
    assert found["cap_eff"] == "0000000000000000" and found["no_new_privs"] == "1"
    assert found["memory"] == str(512 * 2**20) and found["pids"] == "256"
    assert found["cpu"].startswith("100000")  # one CPU: a quota of one period
