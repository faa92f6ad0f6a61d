"""mcpfleet's gateway, in a process of its own (as ``mcpfleet up`` runs it), at /servers/echo/mcp
in front of 4 stdio instances of bench/servers/echo.py. One target per variant:

- ``mcpfleet``: the defaults;
- ``mcpfleet-nometrics``: ``gateway.metrics: false``, for what counting and timing each call costs;
- ``mcpfleet-bare``: no audit log (and no authentication or access control), the baseline for
  what security costs;
- ``mcpfleet-secured``: API-key authentication, access control and the audit log (SQLite) all on;
- ``mcpfleet-cached`` / ``mcpfleet-cached-redis``: the echo tool's results cached in memory / in
  the Redis at 127.0.0.1:6379 (db 13), every client repeating 8 distinct calls.

``start`` runs ``bench/gateway.py --serve-gateway PORT --home HOME --variant V`` (which calls
``serve``), so the gateway's CPU is its own process tree's.
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import os
import signal
import sys
from pathlib import Path
from typing import Any

from lib import BENCH
from lib.procs import Proc, free_port
from lib.redis_keys import delete_prefix
from lib.targets import Log, Running, Starter, ready

GATEWAY_SCRIPT = BENCH / "gateway.py"
VARIANTS = ("default", "nometrics", "bare", "secured", "cached", "cached-redis")
REDIS_URL = "redis://127.0.0.1:6379/13"


def target_name(variant: str) -> str:
    return "mcpfleet" if variant == "default" else f"mcpfleet-{variant}"


async def start(tmp: Path, log: Log, profile: Path | None = None, *, variant: str = "default") -> Running:
    port = free_port()
    home = tmp / f"fleet-home-{variant}"
    argv = [
        sys.executable,
        str(GATEWAY_SCRIPT),
        "--serve-gateway",
        str(port),
        "--home",
        str(home),
        "--variant",
        variant,
    ]
    if profile is not None:
        argv += ["--cprofile", str(profile)]
    env = {
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(BENCH.parent / "src"), os.environ.get("PYTHONPATH", "")] if p
        )
    }
    headers = None
    if variant == "secured":  # a key in the fleet database before the gateway starts
        from mcpfleet.database import Database
        from mcpfleet.security import ApiKeyStore

        store = ApiKeyStore(Database(f"sqlite:///{home / 'fleet.db'}"))
        headers = {"x-api-key": store.create("bench", "bench")[0]}
    proc = Proc(argv, tmp / f"mcpfleet-{variant}.log", env=env)
    from mcpfleet import __version__

    url = f"http://127.0.0.1:{port}/servers/echo/mcp"
    info = {"version": __version__, "instances": 4, "endpoint": "/servers/echo/mcp", "variant": variant}
    running = Running(url, [proc], proc.pid, info, headers=headers)
    if variant.startswith("cached"):
        running.distinct = 8
    await ready(running, proc, 60)
    return running


STARTERS: dict[str, Starter] = {target_name(v): functools.partial(start, variant=v) for v in VARIANTS}


def serve(port: int, home: str, cprofile: str | None, variant: str = "default") -> None:
    """The mcpfleet side, in its own process: 4 stdio echo instances behind the HTTP gateway."""
    from lib.fleet import own_server
    from mcpfleet.audit.config import AuditConfig
    from mcpfleet.cache import CacheConfig
    from mcpfleet.config import FleetConfig, GatewayConfig
    from mcpfleet.gateway import Gateway, GatewayServer
    from mcpfleet.manager import MCPManager
    from mcpfleet.security import AccessConfig, AuthConfig

    async def run() -> None:
        config = FleetConfig(home=home, servers={"echo": own_server("echo.py", instances=4)})
        config.gateway = GatewayConfig(port=port, metrics=variant != "nometrics")
        if variant == "bare":
            config.audit = AuditConfig(enabled=False)
        if variant == "secured":
            config.auth = AuthConfig.model_validate({"mode": "api_key"})
            config.access = AccessConfig.model_validate(
                {"roles": {"bench": ["execute", "list", "read"]}, "servers": {"echo": {"bench": ["*"]}}}
            )
        if variant.startswith("cached"):
            cache: dict[str, Any] = {"servers": {"echo": {"tools": {"echo": 600}}}}
            if variant == "cached-redis":
                prefix = f"mcpfleet-bench-{os.getpid()}:"
                cache.update(backend="redis", redis_url=REDIS_URL, key_prefix=prefix)
            config.cache = CacheConfig.model_validate(cache)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with MCPManager(config) as manager:
            await manager.install("echo")
            await manager.start_server("echo")
            server = GatewayServer(Gateway(manager))
            await server.start()
            profiler = cProfile.Profile() if cprofile else None
            if profiler:
                profiler.enable()
            await stop.wait()
            if profiler and cprofile:
                profiler.disable()
                profiler.dump_stats(cprofile)
            await server.stop()
            if variant == "cached-redis":  # what the run left in db 13
                await delete_prefix(REDIS_URL, str(cache["key_prefix"]))

    asyncio.run(run())
