"""The ``autoscale`` section of ``mcpfleet.yaml`` (the shape is in :mod:`mcpfleet.autoscale`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from mcpfleet.models import FrozenConfigModel

__all__ = ["AutoscaleConfig", "ScalingTargets"]


class ScalingTargets(FrozenConfigModel):
    """How one server scales: bounds, targets (``None`` turns a signal off), thresholds, cooldowns."""

    min_instances: int = Field(2, ge=1, le=256)
    max_instances: int = Field(10, ge=1, le=256)
    target_cpu: float | None = Field(70.0, gt=0, description="percent of one core, per instance")
    target_memory: float | None = Field(
        80.0, gt=0, description="percent of an instance's memory budget (see instance_memory_mb)"
    )
    instance_memory_mb: float | None = Field(
        None,
        gt=0,
        description="memory budget per instance; default: the pod's memory request on Kubernetes, "
        "the machine's memory locally",
    )
    target_in_flight: float | None = Field(4.0, gt=0, description="calls in flight per ready instance")
    target_p95_ms: float | None = Field(None, gt=0, description="p95 tool-call latency; off by default")
    scale_up_threshold: int = Field(3, ge=1, description="consecutive checks over target before scaling up")
    scale_down_threshold: int = Field(
        5, ge=1, description="consecutive checks under target before scaling down"
    )
    scale_up_cooldown: float = Field(60.0, ge=0, description="seconds after a change before scaling up")
    scale_down_cooldown: float = Field(300.0, ge=0, description="seconds after a change before scaling down")
    hysteresis: float = Field(
        0.7, gt=0, le=1, description="scale down only while every signal is under this share of its target"
    )
    step: Literal["one", "proportional"] = Field(
        "one", description="one: +-1 instance; proportional: as many as the signals ask, up to max_step"
    )
    max_step: int = Field(4, ge=1, description="most instances added or removed by one proportional step")
    drain_timeout: float = Field(
        30.0, gt=0, description="seconds a removed instance may take to finish its calls"
    )

    @model_validator(mode="after")
    def _bounds(self) -> ScalingTargets:
        if self.min_instances > self.max_instances:
            raise ValueError(
                f"min_instances ({self.min_instances}) is above max_instances ({self.max_instances}); "
                "lower min_instances or raise max_instances"
            )
        return self


_TARGET_FIELDS = frozenset(ScalingTargets.model_fields)


class AutoscaleConfig(ScalingTargets):
    """The fleet's autoscaler: defaults for every server, and per-server overrides."""

    enabled: bool = Field(False, description="run the autoscaler in `mcpfleet up`")
    interval: float = Field(15.0, gt=0, description="seconds between checks")
    backend: Literal["local", "kubernetes"] = Field(
        "local", description="local: the fleet's own processes; kubernetes: Deployments' replicas"
    )
    namespace: str = Field("default", min_length=1, description="Kubernetes namespace of the Deployments")
    deployment: str = Field(
        "mcp-{server}", min_length=1, description="Deployment name of a server; {server} is its name"
    )
    servers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="server name -> any of the settings above that differ for it; '*' is not special",
    )

    @field_validator("servers")
    @classmethod
    def _only_targets(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for server, override in value.items():
            unknown = sorted(set(override) - _TARGET_FIELDS)
            if unknown:
                raise ValueError(
                    f"servers.{server}: {', '.join(unknown)} cannot be set per server; "
                    f"choose from {', '.join(sorted(_TARGET_FIELDS))}"
                )
        return value

    @model_validator(mode="after")
    def _overrides_valid(self) -> AutoscaleConfig:
        for server in self.servers:
            self.policy_for(server)
        return self

    def policy_for(self, server: str) -> ScalingTargets:
        """The settings for ``server``: the defaults, with its overrides applied."""
        merged = {**self.model_dump(include=set(_TARGET_FIELDS)), **self.servers.get(server, {})}
        try:
            return ScalingTargets.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'limits'}: "
                f"{str(err['msg']).removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise ValueError(f"servers.{server}: {problems}") from None
