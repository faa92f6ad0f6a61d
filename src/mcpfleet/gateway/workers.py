"""Several gateway processes on one port: ``gateway.workers: N`` in the fleet file.

``mcpfleet up`` is worker 0: it installs, runs the once-per-fleet jobs (backups, audit pruning,
the state file) and starts workers 1..N-1 as child processes (``mcpfleet gateway-worker``,
through the reaper's wrapper, so none outlives it). Every worker:

- listens on the same host:port with ``SO_REUSEPORT`` (the kernel spreads connections);
- runs its own share of each server's instances (``ceil(instances / N)``, at least 1);
- signs session ids with the same secret (the configured one, else one made per ``up``),
  handed to the children in their environment, never in argv: any worker serves any session;
- counts in Prometheus multiprocess mode (``<home>/run/metrics``, emptied at start by ``up``
  before anything loads the metrics), so ``/metrics`` on any worker shows the sums;
- keeps its own audit chain (one per writer), so ``mcpfleet audit verify`` holds.

SIGTERM/SIGINT to ``up`` drains and stops every worker; a worker that dies is started again
after a growing wait (:class:`~mcpfleet.backoff.Backoff`).

Admin actions that change one process's servers at runtime (drain, maintenance, start, stop,
restart, rolling update, installing from the dashboard's catalog) would reach only the worker a
request lands on, so a multi-worker gateway refuses them with 409 (:func:`single_worker_actions`);
``mcpfleet up`` refuses the autoscaler, and servers added on demand are off
(:func:`worker_config`). Use ``gateway.workers: 1`` for those.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass

from mcpfleet.backoff import Backoff
from mcpfleet.config import FleetConfig, GatewayConfig
from mcpfleet.exceptions import FleetError
from mcpfleet.gateway.sse import Receive, Scope, Send
from mcpfleet.runtime.process import start_process, terminate

__all__ = [
    "READY_LINE",
    "SECRET_ENV",
    "WORKER_ENV",
    "WorkerPool",
    "WorkerRole",
    "announce_ready",
    "check_workers",
    "instance_share",
    "reuse_port_socket",
    "session_secret",
    "shares",
    "single_worker_actions",
    "worker_config",
]

log = logging.getLogger("mcpfleet.gateway")

WORKER_ENV = "MCPFLEET_WORKER"  # "k/N" in worker k's environment
SECRET_ENV = "MCPFLEET_WORKER_SESSION_SECRET"  # the session secret every worker signs with
READY_LINE = b"mcpfleet-worker-ready\n"  # a child's stdout once it listens
STARTUP_GRACE = 120.0  # seconds a child may take to start its instances and listen
STOP_GRACE = 15.0  # seconds a child may take to drain (the gateway's graceful timeout is 10)
STABLE_AFTER = 60.0  # a worker that ran this long starts over from the shortest wait


@dataclass(frozen=True)
class WorkerRole:
    """Which worker this process is: ``index`` 0 is ``mcpfleet up`` itself."""

    index: int
    count: int

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None) -> WorkerRole | None:
        """The role ``mcpfleet up`` gave this child (None: not a worker child)."""
        value = (os.environ if environ is None else environ).get(WORKER_ENV, "")
        found = re.fullmatch(r"(\d+)/(\d+)", value)
        if found is None:
            return None
        index, count = int(found[1]), int(found[2])
        return cls(index, count) if 0 < index < count else None


def instance_share(instances: int, workers: int) -> int:
    """One worker's instances of a server that runs ``instances``: ceil(instances / workers),
    at least 1 (0 stays 0: a server started on demand)."""
    return instances if instances <= 0 else max(1, math.ceil(instances / workers))


def shares(config: FleetConfig, workers: int) -> dict[str, int]:
    """Server -> the instances one worker runs, for every enabled server that runs any."""
    return {
        name: instance_share(spec.instances, workers)
        for name, spec in config.servers.items()
        if spec.enabled and spec.instances > 0
    }


def check_workers(config: FleetConfig) -> None:
    """Refuse what a multi-worker fleet cannot do (the autoscaler); warn of rate limits each
    worker counts alone and of more workers than CPUs."""
    workers = config.gateway.workers
    if workers <= 1:
        return
    if config.autoscale.enabled:
        raise FleetError(
            f"The autoscaler needs gateway.workers: 1 (this fleet file asks for {workers}): it "
            "would scale one worker's instances only. Set one of them in mcpfleet.yaml."
        )
    limits = config.gateway.rate_limits
    if limits.active and limits.backend == "memory":
        log.warning(
            "gateway.workers is %d and rate limits are counted in memory: each worker counts its own, "
            "so a caller may make up to %d times as many calls; use rate_limits.backend: redis",
            workers,
            workers,
        )
    cpus = os.cpu_count() or 1
    if workers > cpus:
        log.warning(
            "gateway.workers is %d but this machine has %d CPUs; more workers only add memory", workers, cpus
        )


def session_secret(configured: str | None) -> str:
    """The secret every worker signs session ids with: the configured one (resolved), else new."""
    return configured if configured else secrets.token_urlsafe(32)


def worker_config(config: GatewayConfig, secret: str) -> GatewayConfig:
    """A worker's gateway settings: the shared session secret, and no servers added on demand
    (one worker would run a server the others do not know)."""
    on_demand = config.on_demand.model_copy(update={"enabled": False})
    return config.model_copy(update={"session_secret": secret, "on_demand": on_demand})


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that other processes of this user may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, as getaddrinfo would: asyncio sets TCP_NODELAY on accepted connections
    # only then (without it, small replies wait ~40 ms for delayed ACKs).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(False)
    except OSError as exc:
        sock.close()
        raise FleetError(
            f"The gateway could not listen on {host}:{port} ({exc.strerror}); "
            "choose another port with --port or gateway.port in mcpfleet.yaml"
        ) from None
    return sock


# --------------------------------------------------------------------- admin actions

_RUNTIME_ACTIONS = re.compile(
    r"^/(?:(?:api/v1|ui)/servers/[^/]+/(drain|maintenance|update|start|stop|restart)|ui/catalog/(install))/?$"
)

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def single_worker_actions(app: ASGIApp, workers: int) -> ASGIApp:
    """``app``, refusing (409) the actions that would change only one worker's instances."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            found = _RUNTIME_ACTIONS.match(scope["path"])
            if found is not None:
                verb = found[1] or found[2]
                message = (
                    f"{verb} changes the servers of one gateway worker only, and this fleet runs "
                    f"gateway.workers: {workers}; set gateway.workers: 1 in mcpfleet.yaml to {verb} "
                    "servers at runtime, or change the fleet file and restart `mcpfleet up`"
                )
                body = json.dumps({"error": message}).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send({"type": "http.response.start", "status": 409, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


# --------------------------------------------------------------------- the pool


class _Worker:
    def __init__(self, index: int) -> None:
        self.index = index
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.backoff = Backoff(0.5, 30.0, jitter=0.5)
        self.task: asyncio.Task[None] | None = None
        self.drain: asyncio.Task[None] | None = None  # reads its stdout to the end


class WorkerPool:
    """Workers 1..count-1 of ``mcpfleet up``, each ``argv`` with ``env`` plus its role."""

    def __init__(self, argv: list[str], env: dict[str, str], count: int) -> None:
        self.argv = argv
        self.env = env
        self.count = count
        self._workers = [_Worker(index) for index in range(1, count)]
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids (worker 1 first)."""
        return [
            w.process.pid for w in self._workers if w.process is not None and w.process.returncode is None
        ]

    async def start(self) -> None:
        """Start every worker and wait until each listens; FleetError if one cannot."""
        try:
            await asyncio.gather(*(self._spawn(worker) for worker in self._workers))
        except BaseException:
            await self.stop()
            raise
        for worker in self._workers:
            worker.task = asyncio.create_task(self._watch(worker), name=f"mcpfleet-worker-{worker.index}")

    async def _spawn(self, worker: _Worker) -> None:
        env = {**self.env, WORKER_ENV: f"{worker.index}/{self.count}"}
        process = await start_process(
            self.argv,
            env=env,
            cwd=None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # a worker's errors go where ours go
        )
        worker.process, worker.started = process, time.monotonic()
        stdout = process.stdout  # a pipe, as asked above
        line = b""
        if stdout is not None:
            with contextlib.suppress(TimeoutError):
                line = await asyncio.wait_for(stdout.readline(), STARTUP_GRACE)
        if line != READY_LINE:
            code = await terminate(process, grace=2.0)
            raise FleetError(
                f"Gateway worker {worker.index} did not start (exit code {code}); its errors are above"
            )
        if stdout is not None:
            worker.drain = asyncio.create_task(_drain(stdout), name=f"mcpfleet-worker-{worker.index}-out")

    async def _watch(self, worker: _Worker) -> None:
        """Start the worker again, after a growing wait, whenever it dies."""
        while not self._stopping:
            process = worker.process
            if process is not None:
                code = await process.wait()
                if self._stopping:
                    return
                await terminate(process, grace=1.0)  # whatever its session left
                _forget_metrics(process.pid)
                if time.monotonic() - worker.started > STABLE_AFTER:
                    worker.backoff.reset()
                delay = worker.backoff.next()
                log.warning(
                    "gateway worker %d exited (code %s); starting it again in %.1fs",
                    worker.index,
                    code,
                    delay,
                )
                await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._spawn(worker)
            except (FleetError, OSError) as exc:
                log.warning("gateway worker %d: %s", worker.index, exc)

    async def stop(self) -> None:
        """Drain and stop every worker (SIGTERM, then SIGKILL after the grace)."""
        self._stopping = True
        for worker in self._workers:
            if worker.task is not None:
                worker.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.task
        processes = [w.process for w in self._workers if w.process is not None]
        await asyncio.gather(*(terminate(p, grace=STOP_GRACE) for p in processes))


def _forget_metrics(pid: int) -> None:
    """Drop a dead worker's live figures (fleet state) from the shared metrics folder: it could
    not do so itself. Its counts stay, as those of every process that ran."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client.multiprocess import mark_process_dead

        with contextlib.suppress(OSError):
            mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


async def _drain(stream: asyncio.StreamReader) -> None:
    """Read a worker's stdout to its end (nothing is expected after the ready line)."""
    with contextlib.suppress(Exception):
        while await stream.read(4096):
            pass


def announce_ready() -> None:
    """A worker child tells ``mcpfleet up`` that it listens."""
    os.write(sys.stdout.fileno(), READY_LINE)
