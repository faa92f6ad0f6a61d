"""The official MCP conformance suite against servers that are not ours, direct and through the gateway.

Each test runs one leg of the suite (tests/conformance_helpers.py: ``stable`` = 0.1.16's default
suite, ``2025-11-25`` / ``2026-07-28`` = 0.2.0-alpha with ``--requirements``) against one upstream,
first at the upstream's own URL, then with the upstream fronted by the gateway as a fleet server,
at ``/servers/upstream/mcp``, and asserts the gateway fails exactly the checks the upstream fails
on its own (none where the upstream fails none). The upstreams:

``sdk-stateful`` / ``sdk-stateless``
    tests/servers/sdk_everything.py, written with the official Python SDK's ``MCPServer``, on
    streamable HTTP with default settings (``--stateless``: the SDK's stateless HTTP), as a
    ``remote`` server.
``everything-http``
    npm ``@modelcontextprotocol/server-everything`` in its ``streamableHttp`` mode (port from
    ``PORT``; kept on loopback by a preload), as a ``remote`` server.
``sdk-stdio`` / ``everything-stdio``
    the same servers on stdio, run by the fleet. They have no URL of their own, so the direct
    result is sdk-stateful's / everything-http's (the same server code), cached per leg by the
    ``direct_results`` fixture (or run here when that test did not run first).

A check that fails through the gateway but not direct is always a difference. The other way
round (the gateway passes what the upstream fails) is one too, with two exceptions where the
gateway is meant to do better:

- the HTTP front is the gateway's own: in scenarios that test the HTTP endpoint rather than the
  protocol (``HTTP_FRONT``) the gateway may pass what the upstream's HTTP server fails (a server
  without DNS-rebinding protection behind a gateway that has it); a stdio upstream has no HTTP
  front at all, so there the gateway must pass them outright;
- a leg whose revision the upstream does not speak (2026-07-28 against a server without
  ``server/discover``): the gateway speaks it for the upstream, so only its own failures count.

Each test prints both totals, the time each leg took, and verdicts that changed without a failure
on either side (run with ``-s`` to see them).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conformance_helpers import LEGS, LegResult, missing, run_leg
from helpers import fleet, npm_server, own_server, serve_everything_http, serve_gateway, serve_http
from mcpfleet.config import GatewayConfig, RemotePackage, ServerSpec
from mcpfleet.manager import MCPManager

LEG_TIMEOUT = 90.0  # seconds for one leg (a leg takes 1-8 s); each alpha scenario also has a 15 s --timeout
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2 * LEG_TIMEOUT + 60)]

HTTP_FRONT = frozenset(
    {
        "dns-rebinding-protection",
        "server-session-lifecycle",
        "server-sse-multiple-streams",
        "server-sse-polling",
    }
)
UPSTREAMS = ("sdk-stateful", "sdk-stateless", "sdk-stdio", "everything-http", "everything-stdio")
STDIO = {"sdk-stdio": "sdk-stateful", "everything-stdio": "everything-http"}  # -> the direct stand-in
NAME = "upstream"
DISCOVER = "server-stateless:sep-2575-server-implements-discover"


def scenario_of(key: str) -> str:
    return key.split(":", 1)[0]


@contextlib.asynccontextmanager
async def serve_upstream(upstream: str) -> AsyncIterator[str]:
    """An HTTP upstream in its own process group on a free loopback port; yields its MCP URL."""
    if upstream == "everything-http":
        async with serve_everything_http() as url:
            yield url
        return
    flags = ["--stateless"] if upstream == "sdk-stateless" else []
    async with serve_http("sdk_everything.py", "--transport", "http", "--port", "{port}", *flags) as server:
        yield server.url


@contextlib.asynccontextmanager
async def serve_fleet(home: Path, spec: ServerSpec) -> AsyncIterator[str]:
    """A fleet of one server, ``upstream``, behind the gateway; yields its one-server URL."""
    config = fleet(home, **{NAME: spec})
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config) as manager:
        assert (await manager.batch_install()).ok
        assert await manager.start_all() == {NAME: "ready"}
        async with serve_gateway(manager) as url:
            yield f"{url}/servers/{NAME}/mcp"


@pytest.fixture(scope="module")
def direct_results() -> dict[tuple[str, str], LegResult]:
    """Direct runs of this module, by (upstream, leg): everything-stdio reuses everything-http's."""
    return {}


def speaks(direct: LegResult) -> bool:
    """Whether the upstream speaks the leg's protocol revision at all (2026-07-28: has server/discover)."""
    return direct.leg != "2026-07-28" or direct.verdicts.get(DISCOVER) != "FAILURE"


def differences(direct: LegResult, gateway: LegResult, *, http_front_upstream: bool) -> list[str]:
    """Every check that fails on one side only, but for what the gateway may do better (docstring)."""
    expected = {
        k: m for k, m in direct.failures.items() if http_front_upstream or scenario_of(k) not in HTTP_FRONT
    }
    lines = [
        f"fails only through the gateway: {key}: {message} [direct: {direct.verdicts.get(key, 'absent')}]"
        for key, message in gateway.failures.items()
        if key not in expected
    ]
    if speaks(direct):
        lines += [
            f"fails only direct: {key}: {message} [gateway: {gateway.verdicts.get(key, 'absent')}]"
            for key, message in expected.items()
            if key not in gateway.failures and scenario_of(key) not in HTTP_FRONT
        ]
    return lines


def other_changes(direct: LegResult, gateway: LegResult) -> list[str]:
    """Verdicts that differ without a failure on either side (a WARNING, a check gone missing)."""
    keys = sorted(
        (direct.verdicts.keys() | gateway.verdicts.keys()) - direct.failures.keys() - gateway.failures.keys()
    )
    return [
        f"{key}: {direct.verdicts.get(key, 'absent')} direct, {gateway.verdicts.get(key, 'absent')} gateway"
        + (f" ({gateway.messages[key]})" if gateway.messages.get(key) else "")
        for key in keys
        if direct.verdicts.get(key) != gateway.verdicts.get(key)
    ]


def _line(what: str, result: LegResult) -> str:
    return f"{what}: {result.passed} passed, {result.failed} failed in {result.seconds:.1f} s"


@pytest.mark.parametrize(
    ("upstream", "leg"),
    [
        pytest.param(u, leg, id=f"{u}-{leg}", marks=[pytest.mark.npm] if u.startswith("everything") else [])
        for u in UPSTREAMS
        for leg in LEGS
    ],
)
async def test_gateway_fails_what_the_upstream_fails(
    upstream: str, leg: str, direct_results: dict[tuple[str, str], LegResult], tmp_path: Path
) -> None:
    if reason := missing():
        pytest.skip(reason)
    async with contextlib.AsyncExitStack() as stack:
        if upstream in STDIO:
            if upstream == "sdk-stdio":
                spec = own_server("sdk_everything.py", "--transport", "stdio")
            else:
                spec = npm_server("server-everything", "stdio")
            stand_in = STDIO[upstream]
            if (stand_in, leg) not in direct_results:
                url = await stack.enter_async_context(serve_upstream(stand_in))
                direct_results[stand_in, leg] = await run_leg(
                    url, leg, tmp_path / "direct", run_timeout=LEG_TIMEOUT
                )
            direct = direct_results[stand_in, leg]
        else:
            url = await stack.enter_async_context(serve_upstream(upstream))
            direct = await run_leg(url, leg, tmp_path / "direct", run_timeout=LEG_TIMEOUT)
            direct_results[upstream, leg] = direct
            spec = ServerSpec(package=RemotePackage(url=url))
        gateway_url = await stack.enter_async_context(serve_fleet(tmp_path / "home", spec))
        gateway = await run_leg(gateway_url, leg, tmp_path / "gateway", run_timeout=LEG_TIMEOUT)
    print(f"\n{upstream} {leg}: {_line('direct', direct)}; {_line('through the gateway', gateway)}")
    print("".join(f"  {line}\n" for line in other_changes(direct, gateway)), end="")
    diff = differences(direct, gateway, http_front_upstream=upstream not in STDIO)
    assert not diff, f"{upstream}, leg {leg}: {len(diff)} difference(s)\n" + "\n".join(diff)
