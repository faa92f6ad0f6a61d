"""How one request reaches one instance of a server: the start gate, the pick, the safe repeat.

:class:`Router` is the request path below :class:`~mcpfleet.manager.MCPManager`:

1. A server that is not running is started for the request, unless its last start failed less
   than ``START_RETRY_AFTER`` seconds ago: then the request is refused at once, so one broken
   server does not hold every call for its start timeout.
2. The load balancer picks an instance (the pinned one while it can take calls; a request that
   only describes the server, such as ``tools/list``, may go to a draining one).
3. A request that never reached its instance (it had just died) goes to the next one. One cut
   off mid-flight is repeated once elsewhere only if it is safe to repeat (see
   :class:`~mcpfleet.retry.RepeatSafety`); otherwise :class:`CallInterruptedError` says it may
   or may not have run.
4. ``tools/call`` durations go to ``latencies`` (the autoscaler's p95); each ``tools/list``
   teaches which tools are safe to repeat.

The router also directs a server's traffic as a whole: it puts instances and backup URLs behind
the balancer, drains a server, takes it into maintenance and out, and switches it to another URL.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcpfleet.config import FleetConfig, RemotePackage, ServerSpec
from mcpfleet.exceptions import (
    CallInterruptedError,
    ConfigError,
    ConnectionClosedError,
    FleetError,
    ServerStartError,
    ServerUnavailableError,
    UnknownServerError,
)
from mcpfleet.latency import CallLatencies
from mcpfleet.loadbalancer import DESCRIBING, LoadBalancer, RemoteBackend
from mcpfleet.pooling import ConnectionPool
from mcpfleet.protocol.paging import all_pages
from mcpfleet.retry import RepeatSafety
from mcpfleet.runtime import Instance
from mcpfleet.runtime.fleet import Event

__all__ = ["START_RETRY_AFTER", "Router", "ToolInfo", "tools_of", "with_failover"]

START_RETRY_AFTER = 5.0  # seconds a request waits before it may try to start a server that failed to

log = logging.getLogger("mcpfleet.manager")  # the manager's request path, logged under its name


class Router:
    """Sends each request to the instance ``load_balancer`` picks, failing over where that is safe.

    ``start_failures`` maps a server to (when, why) of its last failed start; ``pool`` lends
    sessions to the servers' backup URLs; ``on_event`` hears of draining, maintenance and switches.
    """

    def __init__(
        self,
        load_balancer: LoadBalancer,
        latencies: CallLatencies,
        pool: ConnectionPool | None = None,
        on_event: Event | None = None,
    ) -> None:
        self.load_balancer = load_balancer
        self.latencies = latencies
        self.pool = pool
        self.on_event = on_event
        self.start_failures: dict[str, tuple[float, str]] = {}
        self.repeat = RepeatSafety()

    # ----------------------------------------------------------------- the start gate

    def start_failed(self, server: str, exc: BaseException) -> None:
        """Remember a failed start (a :class:`FleetError`; a cancelled start is no failure)."""
        if isinstance(exc, FleetError):  # its first line: stderr is for operators, not callers
            self.start_failures[server] = (time.monotonic(), _first_line(exc, server))

    def start_succeeded(self, server: str) -> None:
        self.start_failures.pop(server, None)

    async def start(self, server: str, start_server: Callable[[str], Awaitable[object]]) -> None:
        """Start ``server`` for a request (``start_server`` starts it, or waits for the start under
        way), or refuse at once with :class:`ServerUnavailableError` if its last start failed
        moments ago."""
        failed = self.start_failures.get(server)
        if failed is not None and time.monotonic() - failed[0] < START_RETRY_AFTER:
            raise ServerUnavailableError(
                server,
                f"it is unavailable: its last start, {time.monotonic() - failed[0]:.0f}s ago, failed "
                f"({failed[1]}); "
                f"see `mcpfleet status` and `mcpfleet logs {server}`",
            )
        try:
            await start_server(server)
        except ServerStartError as exc:
            raise ServerUnavailableError(
                server,
                f"it is unavailable: it failed to start ({_first_line(exc, server)}); "
                f"see `mcpfleet logs {server}`",
            ) from None

    # ----------------------------------------------------------------- the balancer's view

    async def attach(
        self, server: str, spec: ServerSpec, instances: Iterable[Instance], headers: dict[str, str]
    ) -> None:
        """Put a server's instances and backups (reached with ``headers``) behind the balancer."""
        lb = self.load_balancer
        lb.set_strategy(server, spec.balancing)
        for instance in instances:
            if instance.id not in {t.id for t in lb.targets(server)}:
                lb.add_instance(server, instance.id, instance)
        await lb.set_backups(server, spec.backups, headers=headers, pool=self.pool)

    async def detach(self, server: str, instances: Iterable[Instance]) -> None:
        """Take a server's instances and backups out of the balancer."""
        for instance in instances:
            self.load_balancer.remove_instance(server, instance.id)
        await self.load_balancer.set_backups(server, [])

    async def drain(self, server: str, timeout: float) -> int:
        """Stop new calls to the server's instances and wait up to ``timeout`` for calls in flight.

        New calls go to its backups if it has any, else fail with a clear "draining" error, until
        maintenance ends. Returns how many calls were still in flight at the timeout (0: drained
        cleanly). Nothing in flight is cut.
        """
        lb = self.load_balancer
        if lb.mode(server) != "maintenance":
            lb.set_mode(server, "draining")
        self._emit(server, "mcpfleet/draining", {"in_flight": lb.in_flight(server)})
        left = await lb.wait_idle(server, timeout)
        if left:
            log.warning("%s: %d call(s) still in flight after draining for %gs", server, left, timeout)
        return left

    async def set_maintenance(
        self, server: str, enabled: bool, healthy: Callable[[], Awaitable[bool]] | None = None
    ) -> None:
        """In maintenance a server takes no calls (they go to its backups, if any).

        Leaving maintenance checks ``healthy()`` first (when given: the server runs): a server that
        does not answer stays in maintenance and :class:`ServerUnavailableError` says so.
        """
        if not enabled and healthy is not None and not await healthy():
            raise ServerUnavailableError(
                server,
                "failed its health check, so it stays in maintenance; see `mcpfleet logs "
                f"{server}`, fix it or restart it, then try again",
            )
        self.load_balancer.set_mode(server, "maintenance" if enabled else None)
        self._emit(server, "mcpfleet/maintenance", {"enabled": enabled})

    async def switch(
        self,
        server: str,
        spec: ServerSpec,
        url: str,
        headers: dict[str, str],
        move: Callable[[ServerSpec], Awaitable[None]],
    ) -> None:
        """Send a server's calls to ``url`` after checking it answers MCP there (with ``headers``).

        A remote server moves to ``url``: ``move`` applies its next config, saved, where the old URL
        takes the place of the new one among its backups. A local server's calls are redirected
        to ``url`` until ``load_balancer.restore_traffic(server)``. Raises
        :class:`ServerUnavailableError` if ``url`` does not answer; then nothing changes.
        """
        if not await _answers(server, url, headers, spec.startup_timeout):
            raise ServerUnavailableError(server, f"{url} does not answer MCP; calls still go where they went")
        if isinstance(spec.package, RemotePackage):
            old = spec.package.url
            backups = [old if b == url else b for b in spec.backups]
            await move(spec.model_copy(update={"package": RemotePackage(url=url), "backups": backups}))
        else:
            await self.load_balancer.redirect_traffic(server, url)
        self._emit(server, "mcpfleet/switched", {"url": url})

    def _emit(self, server: str, method: str, params: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(server, method, params)

    # ----------------------------------------------------------------- requests

    async def send(
        self,
        server: str,
        method: str,
        params: dict[str, Any],
        *,
        retry_tools: Sequence[str] = (),
        timeout: float | None = None,
        session_key: str | None = None,
        pin: list[str] | None = None,
    ) -> dict[str, Any]:
        """Send one request to the instance the balancer picks, failing over where that is safe.

        ``pin`` holds the id of the instance to prefer (if it can take the call) and receives the
        id of the one that took it. A request that never reached an instance (it had just died)
        goes to the next one. A request cut off mid-flight is repeated once elsewhere only if it
        is safe to repeat (``retry_tools`` are, whatever they say of themselves);
        otherwise :class:`CallInterruptedError` says it may or may not have run.
        """
        tried: list[str] = []
        repeated = False
        while True:
            target = self.load_balancer.get_instance(
                server,
                session_key=session_key,
                exclude=tried,
                prefer=pin[0] if pin else None,
                describe=method in DESCRIBING,
            )
            if pin is not None:
                pin[:] = [target.id]
            started = time.perf_counter()
            try:
                result = await target.request(method, params, timeout=timeout)
            except ServerUnavailableError:
                tried.append(target.id)  # not sent: any other instance may take it
                continue
            except ConnectionClosedError as exc:
                tried.append(target.id)
                if not repeated and await self.repeat.allows(
                    server, method, params, retry_tools, lambda: self._tools_elsewhere(server, tried)
                ):
                    log.warning(
                        "%s: %s failed mid-call on %s; repeating it elsewhere", server, method, target.id
                    )
                    repeated = True
                    continue
                what = f"tool {params.get('name')!r}" if method == "tools/call" else method
                raise CallInterruptedError(
                    server,
                    f"{what} was cut off when {target.id} failed ({exc}); it may or may not have run, "
                    "so it was not repeated"
                    + (
                        ""
                        if repeated
                        else f". To let mcpfleet repeat it on another instance, the server must annotate "
                        f"the tool readOnlyHint or idempotentHint, or list it in servers.{server}.retry_tools"
                    ),
                ) from None
            if method == "tools/call":
                self.latencies.record(server, time.perf_counter() - started)
            if method == "tools/list":
                self.repeat.learn(server, result.get("tools") or [], first_page="cursor" not in params)
            return result

    async def _tools_elsewhere(self, server: str, tried: list[str]) -> list[dict[str, Any]]:
        """The server's tools as another instance lists them (to learn what is safe to repeat)."""
        target = self.load_balancer.get_instance(server, exclude=tried)
        return await all_pages(lambda p: target.request("tools/list", p, timeout=5.0), "tools", max_pages=20)


@dataclass(frozen=True)
class ToolInfo:
    """One tool of one server, as the server describes it (``tool`` is the raw MCP tool object)."""

    server: str
    tool: dict[str, Any] = field(hash=False)

    @property
    def name(self) -> str:
        return str(self.tool["name"])

    @property
    def description(self) -> str:
        return str(self.tool.get("description") or "")


async def tools_of(
    servers: Iterable[str], request: Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
) -> list[ToolInfo]:
    """Every tool of each server in turn, all pages; ``request(server, method, params)`` sends one."""
    tools: list[ToolInfo] = []
    for server in servers:
        listed = await all_pages(functools.partial(request, server, "tools/list"), "tools")
        tools += [ToolInfo(server, t) for t in listed]
    return tools


def with_failover(
    config: FleetConfig, server: str, primary_url: str | None, backup_urls: Sequence[str]
) -> ServerSpec:
    """A server's next config, with ``backup_urls``: MCP URLs that take its calls while none of its
    instances can.

    For a remote server ``primary_url`` is its own URL (a server not yet in ``config`` becomes a
    remote server at that URL); a local server's primary is its own processes, so ``primary_url``
    must be None. Raises :class:`ConfigError` for what is not an MCP URL.
    """
    urls = [primary_url, *backup_urls] if primary_url is not None else list(backup_urls)
    bad = [u for u in urls if not isinstance(u, str) or not u.startswith(("http://", "https://"))]
    if bad:
        raise ConfigError(f"failover for {server}: not MCP URLs: {bad}; use http(s)://host:port/mcp")
    spec = config.servers.get(server)
    if spec is None:
        if primary_url is None:
            raise UnknownServerError(server, list(config.servers))
        spec = ServerSpec(package=RemotePackage(url=primary_url))
    elif primary_url is not None:
        if spec.package.type != "remote":
            raise ConfigError(
                f"{server} runs locally ({spec.package.type}), so it has no primary URL; "
                "pass primary_url=None and only backup URLs"
            )
        spec = spec.model_copy(update={"package": RemotePackage(url=primary_url)})
    return spec.model_copy(update={"backups": list(backup_urls)})


async def _answers(server: str, url: str, headers: dict[str, str], timeout: float) -> bool:
    """Whether an MCP server answers at ``url`` within ``timeout``."""
    probe = RemoteBackend(server, url, headers=headers, timeout=timeout)
    try:
        return await probe.health_check(timeout=timeout)
    finally:
        await probe.aclose()


def _first_line(exc: FleetError, server: str) -> str:
    """What went wrong, without the stderr tail a start error carries (that is for operators)."""
    return str(exc).split("\n", 1)[0].removeprefix(f"{server}: ")
