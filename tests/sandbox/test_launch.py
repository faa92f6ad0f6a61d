"""The run flags of a sandboxed container, and the runner wrapping for an allow-list."""

from __future__ import annotations

import sys

import pytest

from mcpfleet.exceptions import ConfigError
from mcpfleet.sandbox.config import NetworkConfig, SandboxConfig
from mcpfleet.sandbox.launch import PROXY_PORT, container_flags, sandboxed_command


def pairs(flags: list[str]) -> list[tuple[str, str]]:
    return [(flags[i], flags[i + 1]) for i in range(len(flags) - 1) if flags[i].startswith("-")]


def test_defaults_isolate_and_limit() -> None:
    flags = container_flags(SandboxConfig(), NetworkConfig())
    assert ("--cap-drop", "ALL") in pairs(flags)
    assert ("--security-opt", "no-new-privileges") in pairs(flags)
    assert "--read-only" in flags
    assert ("--tmpfs", "/tmp:rw,nosuid,nodev,size=64m,mode=1777") in pairs(flags)
    assert ("--memory", "512m") in pairs(flags) and ("--cpus", "1") in pairs(flags)
    assert ("--pids-limit", "256") in pairs(flags)
    assert flags[-2:] == ["--network", "none"]
    assert not any(f.startswith("HTTP_PROXY") for f in flags)
    # podman would otherwise fill the tmpfs with the image's own /tmp (and fail when it is big).
    podman = container_flags(SandboxConfig(), NetworkConfig(), cli="/usr/bin/podman")
    assert ("--tmpfs", "/tmp:rw,nosuid,nodev,size=64m,mode=1777,notmpcopyup") in pairs(podman)


def test_limits_can_be_lifted_and_the_root_made_writable() -> None:
    unlimited = SandboxConfig(memory=None, cpus=None, pids=None, read_only=False, tmpfs=[])
    flags = container_flags(unlimited, NetworkConfig())
    assert flags == ["--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--network", "none"]


def test_an_allow_list_joins_the_runners_namespace_and_sets_the_proxy() -> None:
    flags = container_flags(SandboxConfig(cpus=0.5), NetworkConfig(allow=["a.example:443"]))
    assert ("--cpus", "0.5") in pairs(flags)
    assert ("--network", "ns:{netns}") in pairs(flags)
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    assert ("-e", f"HTTPS_PROXY={proxy}") in pairs(flags) and ("-e", f"http_proxy={proxy}") in pairs(flags)


def test_sandboxed_command() -> None:
    run = ("/usr/bin/podman", "run", "-i", "image")
    assert sandboxed_command("s", "/usr/bin/podman", run, NetworkConfig()) == (run, {})
    command, env = sandboxed_command("s", "/usr/bin/podman", run, NetworkConfig(allow=["a:1", "b:2"]))
    assert command == (
        sys.executable, "-m", "mcpfleet.sandbox.runner", "--server", "s", "--allow", "a:1", "--allow", "b:2",
        "--port", str(PROXY_PORT), "--", *run,
    )  # fmt: skip
    assert env["PYTHONPATH"].endswith("src")  # where this mcpfleet is imported from
    with pytest.raises(ConfigError, match=r"servers.s.network.allow needs podman .* with docker"):
        sandboxed_command("s", "/usr/bin/docker", run, NetworkConfig(allow=["a:1"]))
