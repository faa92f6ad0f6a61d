"""The base of every model in the fleet file: unknown keys are errors, not silently dropped.

    class RestartPolicy(ConfigModel):           # the fleet's settings: edited, and checked when edited
        max_restarts: int = 5

    class RateLimit(FrozenConfigModel):         # a value: never changes once read, may key a dict
        rate: float

A misspelt key (``max_restart: 3``) is refused with its name instead of leaving the default in
force. The two differ only in whether a model may change after it is read.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ConfigModel", "FrozenConfigModel"]


class ConfigModel(BaseModel):
    """A section of the fleet file: unknown keys refused; an assignment is validated like the file
    (``config.gateway.port = "x"`` raises), so a config edited in code stays valid."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FrozenConfigModel(ConfigModel):
    """A :class:`ConfigModel` that cannot change once read (hashable): the rules a subsystem
    compiles once and shares between calls, such as rate limits and cache policies."""

    model_config = ConfigDict(frozen=True)
