"""Sandboxed containers: how ``oci`` servers are isolated, and the egress proxy that is their
only way out.

Every ``oci`` server runs with no network (``--network none``), a read-only root file system
with a tmpfs on /tmp, every capability dropped, ``no-new-privileges``, and memory, CPU and
process limits (``sandbox:`` in the fleet file, with safe defaults). A server with
``network: {allow: [host:port, ...]}`` runs instead in a network namespace of its own whose
only interface is loopback; on it listens an HTTP proxy that mcpfleet serves from outside and
that connects only to the listed destinations. ``HTTP_PROXY`` / ``HTTPS_PROXY`` point the
server at it; with no other route out, a client that ignores them reaches nothing.

    config.py     SandboxConfig, NetworkConfig (the fleet file's settings)
    launch.py     the run flags, and the runner wrapping for an allow-list
    runner.py     python -m mcpfleet.sandbox.runner: namespace + proxy + the container
    netns.py      the namespace with only lo, and the listener inside it
    egress.py     the allow-list proxy (CONNECT and plain HTTP)
"""

from __future__ import annotations

from mcpfleet.sandbox.config import NetworkConfig, SandboxConfig
from mcpfleet.sandbox.egress import EgressPolicy, EgressProxy
from mcpfleet.sandbox.launch import container_flags, sandboxed_command

__all__ = [
    "EgressPolicy",
    "EgressProxy",
    "NetworkConfig",
    "SandboxConfig",
    "container_flags",
    "sandboxed_command",
]
