"""The ``gateway.rate_limits`` section of ``mcpfleet.yaml`` (the shape is in :mod:`mcpfleet.ratelimit`)."""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mcpfleet.models import FrozenConfigModel

__all__ = [
    "PrincipalLimits",
    "RateLimit",
    "RateLimitConfig",
    "ServerLimit",
    "ServerLimits",
    "parse_rate",
]

_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$")
_RATE_HELP = (
    "write tokens per second as a number (2.5) or COUNT/UNIT such as 100/minute, 10/s, 5/2s or "
    "1000/hour (units: s, second, m, minute, h, hour, d, day)"
)


def parse_rate(value: str | float) -> tuple[float, float]:
    """``(tokens per second, count)`` for a rate: a number, or a string such as ``"100/minute"``.

    ``count`` is the number before the slash (the rate itself for a plain number); it is the
    default burst, so ``100/minute`` lets 100 calls through at once and then one every 0.6 s.

    >>> parse_rate("100/minute")
    (1.6666666666666667, 100.0)
    >>> parse_rate("5/2s")
    (2.5, 5.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"rate {value!r} is not a rate; {_RATE_HELP}")
    if isinstance(value, int | float):
        per_second, count = float(value), float(value)
    else:
        match = _RATE.match(value.lower())
        if match is None or match.group(3) not in _UNITS:
            raise ValueError(f"rate {value!r} is not understood; {_RATE_HELP}")
        count = float(match.group(1))
        span = float(match.group(2) or 1) * _UNITS[match.group(3)]
        if span <= 0:
            raise ValueError(f"rate {value!r} has a zero time span; {_RATE_HELP}")
        per_second = count / span
    if not math.isfinite(per_second) or per_second <= 0:
        raise ValueError(f"rate {value!r} must be more than zero; to remove a limit, set it to null")
    return per_second, count


class RateLimit(FrozenConfigModel):
    """A token bucket: ``burst`` calls at once, refilled at ``rate`` tokens per second."""

    rate: float = Field(description="tokens per second, or a string such as 100/minute or 10/s")
    burst: int = Field(
        0, description="bucket size, at least 1; default: the count of the rate (100 for 100/minute)"
    )

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "rate" not in data:
            return data
        per_second, count = parse_rate(data["rate"])
        burst = data.get("burst")
        if burst is None:
            burst = max(1, math.ceil(count))
        return {**data, "rate": per_second, "burst": burst}

    @field_validator("burst")
    @classmethod
    def _burst(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"burst {value} must be at least 1 (every call takes one token)")
        return value


class ServerLimit(FrozenConfigModel):
    """A server's bucket (shared by every principal), and buckets for some of its tools."""

    rate: float | None = Field(None, description="as in RateLimit; leave out to keep servers.default")
    burst: int | None = None
    tools: dict[str, RateLimit | None] = Field(
        default_factory=dict,
        description="tool-name glob -> limit; one bucket per glob (its tools share it); first match wins",
    )

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("rate") is None:
            if data.get("burst") is not None:
                raise ValueError("burst needs a rate beside it (e.g. rate: 10/s)")
            return data
        per_second, count = parse_rate(data["rate"])
        burst = data.get("burst")
        return {**data, "rate": per_second, "burst": max(1, math.ceil(count)) if burst is None else burst}

    @field_validator("burst")
    @classmethod
    def _burst(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"burst {value} must be at least 1 (every call takes one token)")
        return value

    @property
    def limit(self) -> RateLimit | None:
        """The server's own bucket, if it has one."""
        if self.rate is None or self.burst is None:
            return None
        return RateLimit(rate=self.rate, burst=self.burst)


class PrincipalLimits(FrozenConfigModel):
    """One bucket per principal, taken by every call it makes to any server."""

    default: RateLimit | None = Field(None, description="for every principal not named; null: none")
    roles: dict[str, RateLimit | None] = Field(
        default_factory=dict, description="role -> limit; the most generous of a principal's roles wins"
    )
    names: dict[str, RateLimit | None] = Field(
        default_factory=dict, description="principal -> limit, before roles; null: unlimited"
    )


class ServerLimits(FrozenConfigModel):
    """One bucket per server, shared by all principals; optional buckets per tool glob."""

    default: RateLimit | None = Field(None, description="for every server not named; null: none")
    names: dict[str, ServerLimit | None] = Field(
        default_factory=dict, description="server -> limit; null: unlimited"
    )


class RateLimitConfig(FrozenConfigModel):
    """Where the buckets live and how big they are. With no limit set, nothing is limited."""

    backend: Literal["memory", "redis"] = Field(
        "memory", description="memory: each gateway replica counts alone; redis: replicas share buckets"
    )
    redis_url: str | None = Field(
        None, pattern=r"^(redis|rediss|unix)://", description="redis://host:port/db, needed for redis"
    )
    key_prefix: str = Field("mcpfleet:rl:", min_length=1, description="prefix of every Redis key")
    redis_timeout: float = Field(
        0.25, gt=0, le=10, description="seconds a Redis call may take before local limits take over"
    )
    probe_interval: float = Field(
        2.0, gt=0, description="seconds between attempts to reach Redis again during an outage"
    )
    principals: PrincipalLimits = Field(default_factory=PrincipalLimits)
    servers: ServerLimits = Field(default_factory=ServerLimits)

    @model_validator(mode="after")
    def _redis_needs_url(self) -> RateLimitConfig:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError(
                "backend redis needs redis_url (e.g. redis_url: redis://127.0.0.1:6379/0); "
                "or use backend: memory"
            )
        return self

    @property
    def active(self) -> bool:
        """Whether any limit is set (without one, the gateway need not build a limiter)."""
        p, s = self.principals, self.servers
        return bool(
            p.default or any(p.roles.values()) or any(p.names.values()) or s.default
            or any(n is not None and (n.limit or any(n.tools.values())) for n in s.names.values())
        )  # fmt: skip
