"""Running servers: instances (child processes or remote endpoints) and their supervisor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpfleet.exports import lazy_exports

if TYPE_CHECKING:
    from mcpfleet.runtime.instance import Instance, InstanceState
    from mcpfleet.runtime.supervisor import Supervisor

__all__ = ["Instance", "InstanceState", "Supervisor"]

__getattr__ = lazy_exports(
    __name__,
    {
        "mcpfleet.runtime.instance": ["Instance", "InstanceState"],
        "mcpfleet.runtime.supervisor": ["Supervisor"],
    },
)
