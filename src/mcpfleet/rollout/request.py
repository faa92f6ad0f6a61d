"""The body of ``POST /api/v1/servers/{name}/update`` (what ``mcpfleet update`` sends a live fleet)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mcpfleet.config import ServerSpec
from mcpfleet.rollout.releases import NewVersion, Smoke

__all__ = ["SmokeCall", "UpdateRequest"]


class SmokeCall(BaseModel):
    """A tool each new instance must answer without an error before it takes calls."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class UpdateRequest(BaseModel):
    """``{"version": "2.0"}`` or ``{"spec": {...}}``, with optional timeouts and a smoke call."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(None, min_length=1, description="the package version (a label for commands)")
    spec: ServerSpec | None = Field(None, description="the server's whole next config instead")
    health_timeout: float = Field(10.0, gt=0)
    drain_timeout: float = Field(30.0, ge=0)
    smoke: SmokeCall | None = None

    @model_validator(mode="after")
    def _one_target(self) -> UpdateRequest:
        if (self.version is None) == (self.spec is None):
            raise ValueError('give either "version" or "spec"')
        return self

    @property
    def target(self) -> NewVersion:
        if self.spec is not None:
            return self.spec
        assert self.version is not None  # the validator allows nothing else
        return self.version

    @property
    def smoke_call(self) -> Smoke | None:
        return (self.smoke.tool, self.smoke.arguments) if self.smoke is not None else None
