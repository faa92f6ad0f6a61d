"""The ``docker run`` / ``podman run`` flags that sandbox an ``oci`` server, and the runner that
forces its traffic through the egress proxy when it has a ``network.allow`` list.

    flags = container_flags(SandboxConfig(), NetworkConfig())
    # ['--cap-drop', 'ALL', '--security-opt', 'no-new-privileges', '--read-only',
    #  '--tmpfs', '/tmp:rw,nosuid,nodev,size=64m,mode=1777', '--memory', '512m', '--cpus', '1',
    #  '--pids-limit', '256', '--network', 'none']
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcpfleet.exceptions import ConfigError
from mcpfleet.sandbox.config import NetworkConfig, SandboxConfig

__all__ = ["NETNS", "PROXY_PORT", "container_flags", "sandboxed_command"]

PROXY_PORT = 3128
"""Where the egress proxy listens inside a sandboxed server's network namespace."""
NETNS = "{netns}"
"""Replaced by the runner, in the command it runs, with the path of the namespace it made."""


def container_flags(sandbox: SandboxConfig, network: NetworkConfig, *, cli: str = "docker") -> list[str]:
    """Isolation and limits for ``run``: no capabilities, no privilege gain, a read-only root,
    memory / CPU / process limits, and either no network or only the egress proxy's. ``cli``:
    the engine's command (podman's tmpfs otherwise starts as a copy of the image's folder)."""
    flags = ["--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
    if sandbox.read_only:
        flags.append("--read-only")
    # An empty scratch folder: podman copies what the image has at that path into the tmpfs unless
    # told not to, which fails when it does not fit in 64 MiB (and is not scratch). Docker never does.
    empty = ",notmpcopyup" if Path(cli).name == "podman" else ""
    for folder in sandbox.tmpfs:
        flags += ["--tmpfs", f"{folder}:rw,nosuid,nodev,size=64m,mode=1777{empty}"]
    if sandbox.memory is not None:
        flags += ["--memory", sandbox.memory]
    if sandbox.cpus is not None:
        flags += ["--cpus", f"{sandbox.cpus:g}"]
    if sandbox.pids is not None:
        flags += ["--pids-limit", str(sandbox.pids)]
    if not network.allow:
        return [*flags, "--network", "none"]
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    flags += ["--network", f"ns:{NETNS}"]
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        flags += ["-e", f"{name}={proxy}"]
    return flags


def sandboxed_command(
    server: str, cli: str, command: tuple[str, ...], network: NetworkConfig
) -> tuple[tuple[str, ...], dict[str, str]]:
    """``command`` (a ``run`` made with :func:`container_flags`) and the environment it needs:
    as is without an allow-list; otherwise wrapped in :mod:`mcpfleet.sandbox.runner`, which
    makes the namespace and runs the proxy. Joining a namespace by path is podman's
    (``--network ns:PATH``); Docker has no such mode."""
    if not network.allow:
        return command, {}
    if Path(cli).name != "podman":
        raise ConfigError(
            f"servers.{server}.network.allow needs podman (`--network ns:PATH`), and this machine runs "
            f"the container with {Path(cli).name}; install podman, or remove network.allow"
        )
    allow = [a for destination in network.allow for a in ("--allow", destination)]
    runner = (sys.executable, "-m", "mcpfleet.sandbox.runner", "--server", server, *allow)
    # The runner imports mcpfleet from wherever this process did.
    source = str(Path(__file__).resolve().parents[2])
    return (*runner, "--port", str(PROXY_PORT), "--", *command), {"PYTHONPATH": source}
