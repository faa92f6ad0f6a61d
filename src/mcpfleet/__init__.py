"""mcpfleet: run fleets of MCP servers in production."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpfleet.exports import lazy_exports

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig, ServerSpec, load_config
from mcpfleet.exceptions import FleetError

__all__ = ["FleetConfig", "FleetError", "ServerSpec", "load_config"]
__version__: str  # the installed distribution's (pyproject.toml holds the one version), read on first use

_exports = lazy_exports(
    __name__,
    {
        "mcpfleet.config": ["FleetConfig", "ServerSpec", "load_config"],
    },
)


def __getattr__(name: str) -> object:
    if name != "__version__":
        return _exports(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("mcpfleet")
    except PackageNotFoundError:  # a source tree put on sys.path by hand, never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found
