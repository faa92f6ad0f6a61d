"""mcpfleet's gateway, in a process of its own (as ``mcpfleet up`` runs it), at /servers/echo/mcp
in front of 4 stdio instances of bench/servers/echo.py. One target per variant:

- ``mcpfleet``: the defaults;
- ``mcpfleet-nometrics``: ``gateway.metrics: false``, for what counting and timing each call costs;
- ``mcpfleet-bare``: no audit log (and no authentication or access control), the baseline for
  what security costs;
- ``mcpfleet-secured``: API-key authentication, access control, rate limits (per principal and
  per server, far above the load) and the audit log (SQLite) all on;
- ``mcpfleet-cached`` / ``mcpfleet-cached-redis``: the echo tool's results cached in memory / in
  the Redis at 127.0.0.1:6379 (db 13), every client repeating 8 distinct calls.

``start`` writes the variant's fleet file and runs ``mcpfleet up`` on it (no benchmark-only
path), so the CPU counted is the gateway's process tree: gateway and instances. Only the
profiling pass's cProfile run (``serve``) builds the same fleet in-process.
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import os
import signal
import sys
import time
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


def fleet_config(home: str, variant: str, port: int, workers: int = 1) -> Any:
    """The fleet file of ``variant``: 4 stdio echo instances behind the gateway, as users write it
    (``workers`` above 1: that many gateway processes on the port, each with its share of them)."""
    from lib.fleet import own_server
    from mcpfleet.audit.config import AuditConfig
    from mcpfleet.cache import CacheConfig
    from mcpfleet.config import FleetConfig, GatewayConfig
    from mcpfleet.security import AccessConfig, AuthConfig

    config = FleetConfig(home=home, servers={"echo": own_server("echo.py", instances=4)})
    gateway: dict[str, Any] = {"port": port, "metrics": variant != "nometrics", "workers": workers}
    if variant == "secured":  # every check a call can meet, none refusing: limits far above the load
        rate = {"rate": "1000000/s"}
        gateway["rate_limits"] = {"principals": {"default": rate}, "servers": {"default": rate}}
    config.gateway = GatewayConfig.model_validate(gateway)
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
            cache.update(backend="redis", redis_url=REDIS_URL, key_prefix=f"mcpfleet-bench-{port}:")
        config.cache = CacheConfig.model_validate(cache)
    return config


async def start(
    tmp: Path, log: Log, profile: Path | None = None, *, variant: str = "default", workers: int = 1
) -> Running:
    """``mcpfleet up`` on a fleet file (``profile``: the in-process gateway under cProfile instead)."""
    if profile is not None:
        return await _start_profiled(tmp, profile, variant)
    from mcpfleet import __version__
    from mcpfleet.config import dump_config

    port = free_port()
    root = tmp / f"fleet-{variant}"
    root.mkdir()
    home = root / "home"
    headers = None
    if variant == "secured":  # a key in the fleet database before the gateway starts
        from mcpfleet.database import Database
        from mcpfleet.security import ApiKeyStore

        home.mkdir()
        store = ApiKeyStore(Database(f"sqlite:///{home / 'fleet.db'}"))
        headers = {"x-api-key": store.create("bench", "bench")[0]}
    config = fleet_config(str(home), variant, port, workers)
    (root / "mcpfleet.yaml").write_text(dump_config(config))
    argv = [sys.executable, "-m", "mcpfleet", "-c", str(root / "mcpfleet.yaml"), "up"]
    proc = Proc(argv, tmp / f"mcpfleet-{variant}.log", env=_env())
    url = f"http://127.0.0.1:{port}/servers/echo/mcp"
    info = {
        "version": __version__,
        "how": f"mcpfleet up (a fleet file: echo, instances: 4, gateway.workers: {workers})",
        "instances": 4,
        "workers": workers,
        "endpoint": "/servers/echo/mcp",
        "variant": variant,
        "fleet_file": str(root / "mcpfleet.yaml"),
    }
    running = Running(url, [proc], proc.pid, info, headers=headers)
    if variant.startswith("cached"):
        running.distinct = 8
    await ready(running, proc, 90)
    if workers > 1:  # the first worker answers at once; the others listen once `up` says so
        await _workers_listen(running, proc, 90)
    if variant == "cached-redis":
        running.cleanup.append(lambda: asyncio.run(delete_prefix(REDIS_URL, f"mcpfleet-bench-{port}:")))
    return running


async def _workers_listen(running: Running, proc: Proc, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while "Gateway workers:" not in proc.tail(100_000):
        if proc.exited() or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"mcpfleet up did not start its gateway workers:\n{proc.tail()}")
        await asyncio.sleep(0.1)


def _env() -> dict[str, str]:
    return {
        "PYTHONPATH": os.pathsep.join(
            p for p in [str(BENCH.parent / "src"), os.environ.get("PYTHONPATH", "")] if p
        )
    }


async def _start_profiled(tmp: Path, profile: Path, variant: str) -> Running:
    port = free_port()
    home = tmp / f"fleet-home-{variant}-prof"
    argv = [sys.executable, str(GATEWAY_SCRIPT), "--serve-gateway", str(port), "--home", str(home)]
    argv += ["--variant", variant, "--cprofile", str(profile)]
    proc = Proc(argv, tmp / f"mcpfleet-{variant}-prof.log", env=_env())
    running = Running(f"http://127.0.0.1:{port}/servers/echo/mcp", [proc], proc.pid, {"variant": variant})
    await ready(running, proc, 90)
    return running


STARTERS: dict[str, Starter] = {target_name(v): functools.partial(start, variant=v) for v in VARIANTS}


def starters(workers: int) -> dict[str, Starter]:
    """The targets with ``gateway.workers: workers`` in their fleet files."""
    return {target_name(v): functools.partial(start, variant=v, workers=workers) for v in VARIANTS}


def serve(port: int, home: str, cprofile: str | None, variant: str = "default") -> None:
    """The profiling pass's gateway, in its own process under cProfile: the fleet of ``variant``."""
    from mcpfleet.gateway import Gateway, GatewayServer
    from mcpfleet.manager import MCPManager

    async def run() -> None:
        config = fleet_config(home, variant, port)
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

    asyncio.run(run())
