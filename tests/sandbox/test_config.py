"""The fleet file's ``sandbox:`` and ``network:`` settings, as a user writes them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mcpfleet.config import FleetConfig
from mcpfleet.exceptions import ConfigError
from mcpfleet.sandbox.config import NetworkConfig, SandboxConfig, parse_destination


def test_safe_defaults() -> None:
    sandbox = SandboxConfig()
    assert (sandbox.memory, sandbox.cpus, sandbox.pids, sandbox.read_only, sandbox.tmpfs) == (
        "512m", 1.0, 256, True, ["/tmp"],
    )  # fmt: skip
    assert NetworkConfig().allow == []


def test_an_oci_server_takes_sandbox_and_network() -> None:
    config = FleetConfig.model_validate(
        {
            "servers": {
                "fetch": {
                    "package": {"type": "oci", "image": "mcp/fetch"},
                    "sandbox": {"memory": "1g", "cpus": 2, "pids": None},
                    "network": {"allow": ["api.github.com:443", "[::1]:8080", "*.example.com:443"]},
                }
            }
        }
    )
    spec = config.servers["fetch"]
    assert spec.sandbox is not None
    assert (spec.sandbox.memory, spec.sandbox.cpus, spec.sandbox.pids) == ("1g", 2, None)
    assert spec.network is not None and len(spec.network.allow) == 3


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("sandbox", {"memory": "lots"}, "write a size such as 512m"),
        ("sandbox", {"tmpfs": ["tmp"]}, "write an absolute folder"),
        ("sandbox", {"cpus": 0}, "greater than 0"),
        ("sandbox", {"swap": "1g"}, "swap"),
        ("network", {"allow": ["api.github.com"]}, "is not host:port"),
        ("network", {"allow": ["api.github.com:99999"]}, "is not host:port"),
        ("network", {"allow": ["bad host:80"]}, "is not a host name"),
    ],
)
def test_mistakes_are_refused_with_what_to_write(section: str, value: object, message: str) -> None:
    server = {"package": {"type": "oci", "image": "mcp/fetch"}, section: value}
    with pytest.raises((ValidationError, ConfigError), match=message):
        FleetConfig.model_validate({"servers": {"fetch": server}})


def test_only_oci_servers_are_sandboxed() -> None:
    server = {"package": {"type": "command", "command": "python3"}, "network": {"allow": ["a.b:443"]}}
    with pytest.raises((ValidationError, ConfigError), match="sandbox and network are for oci servers"):
        FleetConfig.model_validate({"servers": {"tool": server}})


def test_parse_destination() -> None:
    assert parse_destination("API.github.com:443") == ("api.github.com", 443)
    assert parse_destination("[::1]:8080") == ("::1", 8080)
    assert parse_destination("127.0.0.1:80") == ("127.0.0.1", 80)
