"""``per_caller:``: how many per-principal instances a server keeps, and for how long.

    servers:
      github:
        package: {type: npm, name: "@modelcontextprotocol/server-github", version: "2026.9.1"}
        env: {GITHUB_PERSONAL_ACCESS_TOKEN: "${user:github_token}"}
        per_caller: {max_instances: 32, idle_timeout: 300}     # the defaults

A stdio server whose ``env`` or ``args`` use ``${user:NAME}`` runs one process per principal,
started with that principal's own values (see :mod:`mcpfleet.percaller.pool`).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from mcpfleet.models import FrozenConfigModel
from mcpfleet.secrets import user_references

__all__ = ["PerCallerConfig", "uses_caller_secrets"]


class PerCallerConfig(FrozenConfigModel):
    """The pool of one server's per-principal instances."""

    max_instances: int = Field(
        32, ge=1, le=1024, description="principals' instances at once; the least recently used idle one "
        "makes room for a new principal, and when all are busy the call is refused"
    )  # fmt: skip
    idle_timeout: float = Field(
        300.0, gt=0, description="seconds without a request before a principal's instance is stopped"
    )


def uses_caller_secrets(env: Iterable[str], args: Iterable[str]) -> list[str]:
    """The ``${user:NAME}`` secrets a stdio server's env values and args refer to."""
    return sorted({name for value in (*env, *args) for name in user_references(value)})
