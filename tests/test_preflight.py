"""`mcpfleet config validate` finds what `mcpfleet up` would trip over, before anything starts."""

from __future__ import annotations

import sys
from pathlib import Path

from mcpfleet.config import (
    AuthConfig,
    CommandPackage,
    FleetConfig,
    GatewayConfig,
    NpmPackage,
    PypiPackage,
    ServerSpec,
)
from mcpfleet.preflight import preflight


def test_what_up_would_fail_on_is_a_problem_and_unpinned_is_a_warning(tmp_path: Path) -> None:
    config = FleetConfig(
        home=str(tmp_path),
        servers={
            "ok": ServerSpec(package=CommandPackage(command=sys.executable)),
            "gone": ServerSpec(package=CommandPackage(command="no-such-command-anywhere")),
            "secret": ServerSpec(
                package=PypiPackage(name="mcp-server-time", version="2026.10.19"),
                env={"TOKEN": "${UNSET_TOKEN}", "PATH_TO": "${MCPFLEET_SERVER_DATA}/x", "D": "${OPT:-x}"},
                headers={"k": "${file:/no/such/secret}"},
            ),
            "loose": ServerSpec(package=NpmPackage(name="@modelcontextprotocol/server-memory")),
            "off": ServerSpec(package=CommandPackage(command="also-missing"), enabled=False),
        },
    )
    config.gateway = GatewayConfig(host="0.0.0.0")  # beyond loopback without auth
    found = preflight(config, environ={"PATH": "/usr/bin:/bin"})
    text = "\n".join(found.problems)
    assert "servers.gone.package.command" in text and "servers.ok" not in text
    assert "${UNSET_TOKEN}" in text and "MCPFLEET_SERVER_DATA" not in text and "${OPT}" not in text
    assert "/no/such/secret" in text and "gateway.host" in text and "servers.off" not in text
    assert [w.split(":")[0] for w in found.warnings] == ["servers.loose.package.version"]


def test_a_fleet_up_can_run_has_no_problems(tmp_path: Path) -> None:
    config = FleetConfig(
        home=str(tmp_path),
        servers={"time": ServerSpec(package=PypiPackage(name="mcp-server-time", version="2026.10.19"))},
        auth=AuthConfig(mode="api_key"),
    )
    config.gateway = GatewayConfig(host="0.0.0.0")
    found = preflight(config, environ={"PATH": "/usr/bin:/bin"})
    assert found.problems == [] and found.warnings == []
