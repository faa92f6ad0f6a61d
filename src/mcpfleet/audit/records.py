"""One audit record, its canonical form (what the hash chain covers), and a query over records."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from mcpfleet.exceptions import AuditError

__all__ = ["CONTENT_FIELDS", "GENESIS", "AuditQuery", "AuditRecord", "canonical", "to_utc"]

GENESIS = "0" * 64  # prev_hash of the first record of every chain
CONTENT_FIELDS = (
    "id", "time", "server", "tool", "params", "outcome", "error", "latency_ms",
    "user", "role", "client", "request_id",
)  # fmt: skip


def to_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as local time (as ``datetime.now()`` gives)."""
    return moment.astimezone(UTC)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# The same C encoder JSONEncoder.encode builds on every call, built once, without the circular
# reference check (masked content has no cycles; anything it refuses goes to _CANONICAL, which
# raises as it always did). Same text, half the time: the audit writer runs it for every record.
_FAST = (
    c_make_encoder(None, _CANONICAL.default, encode_basestring, None, ":", ",", True, False, False)
    if c_make_encoder is not None
    else None
)


def canonical(content: Any) -> str:
    """The exact text the hash covers: sorted keys, no spaces, UTF-8, no NaN."""
    if _FAST is not None:
        try:
            return "".join(_FAST(content, 0))
        except (ValueError, TypeError, RecursionError):
            pass
    return _CANONICAL.encode(content)


def _iso(moment: datetime) -> str:
    return to_utc(moment).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audited operation: who called which tool of which server, with what, and how it went.

    ``chain``/``seq``/``prev_hash``/``hash`` place it in its writer's hash chain; ``params`` is
    already masked and JSON-safe (``None`` when parameters are not recorded); ``outcome`` is
    ``"success"``, ``"error"`` (``error`` names the exception) or what the caller passes, e.g.
    ``"denied"``.
    """

    id: str
    time: datetime
    chain: str
    seq: int
    prev_hash: str
    hash: str
    server: str | None = None
    tool: str | None = None
    params: Any = None
    outcome: str = "success"
    error: str | None = None
    latency_ms: float | None = None
    user: str | None = None
    role: str | None = None
    client: str | None = None
    request_id: str | None = None

    def content(self) -> str:
        """Canonical JSON of the fields the hash covers besides the chain position."""
        return canonical(
            {name: _iso(self.time) if name == "time" else getattr(self, name) for name in CONTENT_FIELDS}
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``time`` as ISO 8601 UTC with microseconds."""
        return {f.name: _iso(self.time) if f.name == "time" else getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Any) -> AuditRecord:
        """The record ``to_dict`` made; raises :class:`ValueError` saying what is missing or wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"an audit record is a JSON object, not {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        missing = {"id", "time", "chain", "seq", "prev_hash", "hash"} - data.keys()
        if missing:
            raise ValueError(f"the record lacks {', '.join(sorted(missing))}")
        unknown = data.keys() - names
        if unknown:
            raise ValueError(f"the record has unknown fields {', '.join(sorted(unknown))}")
        values = dict(data)
        if not isinstance(values["time"], str | datetime):
            raise ValueError("time must be an ISO 8601 string")
        moment = values["time"]
        values["time"] = to_utc(datetime.fromisoformat(moment) if isinstance(moment, str) else moment)
        if not isinstance(values["seq"], int) or isinstance(values["seq"], bool):
            raise ValueError("seq must be an integer")
        for name in ("id", "chain", "prev_hash", "hash", "outcome"):
            if name in values and not isinstance(values[name], str):
                raise ValueError(f"{name} must be a string")
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of :meth:`AuditLogger.query`: equal fields, ``start_time <= time < end_time``.

    Results come newest first, at most ``limit`` of them (``None``: all).
    """

    server: str | None = None
    user: str | None = None
    tool: str | None = None
    outcome: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    limit: int | None = 1000

    def __post_init__(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise AuditError(
                f"limit must be a positive number of records or None for all, not {self.limit!r}"
            )
        for name in ("start_time", "end_time"):
            moment = getattr(self, name)
            if moment is not None and not isinstance(moment, datetime):
                raise AuditError(f"{name} must be a datetime (e.g. datetime.now() - timedelta(hours=24))")
            if moment is not None:
                object.__setattr__(self, name, to_utc(moment))

    def equals(self) -> dict[str, str]:
        """The fields that must match exactly."""
        pairs = {"server": self.server, "user": self.user, "tool": self.tool, "outcome": self.outcome}
        return {k: v for k, v in pairs.items() if v is not None}

    def matches(self, record: AuditRecord) -> bool:
        if any(getattr(record, k) != v for k, v in self.equals().items()):
            return False
        if self.start_time is not None and record.time < self.start_time:
            return False
        return self.end_time is None or record.time < self.end_time
