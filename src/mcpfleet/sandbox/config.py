"""The ``sandbox:`` and ``network:`` settings of an ``oci`` server (a container image).

    servers:
      fetch:
        package: {type: oci, image: mcp/fetch, version: "1.2"}
        sandbox: {memory: 1g, cpus: 2, pids: 128}     # read_only: true, tmpfs [/tmp] by default
        network: {allow: ["api.github.com:443", "127.0.0.1:8080"]}

Every ``oci`` server runs sandboxed, with these settings or their defaults: no network, a
read-only root file system with a tmpfs on /tmp, every capability dropped, no new privileges,
512 MiB of memory, one CPU and 256 processes. ``network.allow`` lets the server reach exactly
those ``host:port`` destinations through mcpfleet's egress proxy (see :mod:`mcpfleet.sandbox`).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from mcpfleet.models import ConfigModel

__all__ = ["NetworkConfig", "SandboxConfig", "parse_destination"]

_MEMORY = re.compile(r"^[1-9][0-9]*[bkmg]?$", re.IGNORECASE)
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\*\.[A-Za-z0-9.-]+)$")


def parse_destination(text: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:443"`` for IPv6) as ``(host, port)``, host lower-cased and
    without brackets. Raises :class:`ValueError` saying what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port (e.g. api.github.com:443, [::1]:8080)")
    if not _HOST.match(host):
        raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    return host.strip("[]").lower(), int(port)


class SandboxConfig(ConfigModel):
    """Limits and isolation for an ``oci`` server's container."""

    memory: str | None = Field("512m", description="memory limit (docker's --memory: 512m, 2g); null: none")
    cpus: float | None = Field(1.0, gt=0, description="CPUs it may use (--cpus); null: no limit")
    pids: int | None = Field(256, ge=1, description="processes and threads at most (--pids-limit)")
    read_only: bool = Field(True, description="a read-only root file system (writable: tmpfs and volumes)")
    tmpfs: list[str] = Field(
        default_factory=lambda: ["/tmp"], description="writable in-memory folders (64 MiB each)"
    )

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None and not _MEMORY.match(value):
            raise ValueError(f"memory {value!r}: write a size such as 512m or 2g")
        return value

    @field_validator("tmpfs")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/") or ":" in path or "," in path:
                raise ValueError(f"tmpfs {path!r}: write an absolute folder, e.g. /tmp")
        return value


class NetworkConfig(ConfigModel):
    """Where an ``oci`` server may connect: nowhere unless listed."""

    allow: list[str] = Field(
        default_factory=list,
        description="host:port destinations reachable through the egress proxy; '*.example.com:443' "
        "matches subdomains; empty: no network at all",
    )

    @field_validator("allow")
    @classmethod
    def _destinations(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_destination(item)
        return value
