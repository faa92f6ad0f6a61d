"""``Fleet``: what the modules below the manager use of a fleet and its running servers.

Rolling updates (:mod:`mcpfleet.rollout`), scaling (:mod:`mcpfleet.autoscale`) and server data
(:mod:`mcpfleet.backup.serverdata`) take a ``Fleet``, never
:class:`~mcpfleet.manager.MCPManager` itself (which is one): they import nothing above them,
and the manager is free to import them. Rolling updates also take a ``Launches``
(a :class:`~mcpfleet.launching.Launcher` is one) to launch a version other than the running one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from mcpfleet.config import FleetConfig, ServerSpec
from mcpfleet.home import FleetHome
from mcpfleet.install import InstallLock, LaunchSpec, LockRecord
from mcpfleet.latency import CallLatencies
from mcpfleet.loadbalancer import LoadBalancer
from mcpfleet.runtime.instance import Instance
from mcpfleet.runtime.supervisor import Supervisor

__all__ = ["Event", "Fleet", "Launches"]

Event = Callable[[str, str, dict[str, Any]], None]  # (server, method, params), for the fleet's listeners


class Fleet(Protocol):
    """A fleet's config and its running servers (see :class:`~mcpfleet.manager.MCPManager`)."""

    @property
    def config(self) -> FleetConfig: ...

    @property
    def config_path(self) -> Path | None: ...

    @property
    def home(self) -> FleetHome: ...

    @property
    def load_balancer(self) -> LoadBalancer: ...

    @property
    def latencies(self) -> CallLatencies: ...

    def spec(self, server: str) -> ServerSpec: ...

    def save_config(self, path: str | Path | None = None) -> Path: ...

    def running_servers(self) -> list[str]: ...

    def supervisor(self, server: str) -> Supervisor | None: ...

    def get_server_instances(self, server: str) -> list[Instance]: ...

    async def start_server(self, server: str, instances: int | None = None) -> list[Instance]: ...

    async def stop_server(self, server: str) -> None: ...

    async def scale_server(self, server: str, count: int, *, drain_timeout: float = 30.0) -> int: ...

    def maintenance_mode(self, server: str) -> str | None: ...

    async def drain_connections(self, server: str, timeout: float = 30.0) -> int: ...

    async def set_maintenance_mode(self, server: str, enabled: bool) -> None: ...


class Launches(Protocol):
    """How a fleet's servers launch, and where a server's committed config and install are kept."""

    @property
    def lock(self) -> InstallLock: ...

    def launch(self, server: str, spec: ServerSpec, record: LockRecord | None = None) -> LaunchSpec: ...

    def server_env(self, server: str, spec: ServerSpec) -> dict[str, str]: ...

    def version(self, server: str, spec: ServerSpec) -> str: ...

    def set_spec(self, server: str, config: ServerSpec) -> ServerSpec: ...
