"""Bench's own small servers (bench/servers/*.py) as fleet specs, and ``mcpfleet up`` on them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lib import SERVERS
from lib.procs import Proc, free_port
from mcpfleet.config import CommandPackage, FleetConfig, ServerSpec, dump_config


def own_server(script: str, *args: str, version: str | None = None, **spec: Any) -> ServerSpec:
    """bench/servers/<script> run with this Python (as tests/helpers.py's ``own_server``);
    ``version`` is the command package's (a rolling update's release)."""
    package = CommandPackage(command=sys.executable, **({"version": version} if version else {}))
    return ServerSpec(package=package, args=[str(SERVERS / script), *args], **spec)


def mcpfleet_up(config: FleetConfig, root: str) -> tuple[Proc, int]:
    """`mcpfleet up` on a free loopback port for ``config`` (written to ROOT/mcpfleet.yaml), in
    its own process group, its output in ROOT/up.log."""
    Path(root, "mcpfleet.yaml").write_text(dump_config(config))
    port = free_port()
    command = [sys.executable, "-m", "mcpfleet", "-c", f"{root}/mcpfleet.yaml", "up", "--port", str(port)]
    return Proc(command, Path(root, "up.log")), port
