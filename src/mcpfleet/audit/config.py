"""``audit:`` in the fleet file: where the audit log goes and what it keeps.

    audit:
      store: postgresql                  # sqlite (default, the fleet database) | postgresql | jsonl
      url: postgresql://audit@db/fleet   # default: the fleet's database_url
      mask_keys: [ssn, iban]             # masked besides password, token, secret, api_key, ...
      mask_patterns: ['ACCT-[0-9]{8}']   # and what matches these, in any string value
      retention_days: 90                 # older records are pruned (null: kept whatever their age)
      max_size_mb: 500                   # and the oldest while the records take more (default: no bound)
      prune_every: 1h                    # how often `mcpfleet up` prunes (null: only `mcpfleet audit prune`)
      checkpoint_key: ${AUDIT_KEY}       # signs prune checkpoints; default <home>/audit-checkpoint.key

Relative ``file`` and ``spill_file`` paths are taken from the fleet home.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mcpfleet.durations import parse_duration
from mcpfleet.models import ConfigModel
from mcpfleet.secrets import references

__all__ = ["AuditConfig"]


class AuditConfig(ConfigModel):
    """The audit log of gateway calls. Relative paths are taken from the fleet home."""

    enabled: bool = Field(True, description="record every tool call that passes the gateway")
    store: Literal["sqlite", "postgresql", "jsonl"] | None = Field(
        None,
        description="unset: the fleet database (database_url, else fleet.db in the home); "
        "sqlite: fleet.db or url; postgresql: url or database_url; jsonl: file",
    )
    url: str | None = Field(
        None,
        pattern=r"^(sqlite|postgresql)(\+\w+)?://",
        description="database URL for the sqlite or postgresql store; default: the fleet's database_url",
    )
    file: str | None = Field(
        None, description="JSON lines file of the jsonl store; default <home>/audit.jsonl"
    )
    include_params: bool = Field(True, description="record tool arguments (masked)")
    mask_sensitive: bool = Field(True, description="mask secrets in arguments and error messages")
    mask_keys: list[str] = Field(default_factory=list, description="more key words whose values are masked")
    mask_patterns: list[str] = Field(default_factory=list, description="more regexes masked in string values")
    queue_size: int = Field(10_000, ge=1, description="records waiting in memory before they spill to disk")
    batch_size: int = Field(500, ge=1, description="records per write to the store")
    writer: Literal["process", "thread"] = Field(
        "process",
        description="process: masking, sealing and writing run in a process of their own, off the "
        "gateway's interpreter (a third of its time per call otherwise); thread: in the gateway",
    )
    flush_interval: float = Field(0.2, gt=0, description="seconds the writer waits for records")
    spill_file: str | None = Field(
        None, description="where records wait while the store is down; default <home>/audit-spill.jsonl"
    )
    retention_days: float | None = Field(
        90, gt=0, description="records older than this many days are pruned; null: none for its age"
    )
    max_size_mb: float | None = Field(
        None, gt=0, description="while the records take more (MB), the oldest are pruned; default: no bound"
    )
    prune_every: str | None = Field(
        "1h", description="how often `mcpfleet up` prunes: 30m, 6h, 1d; null: only `mcpfleet audit prune`"
    )
    prune_batch_size: int = Field(
        5000, ge=1, description="records deleted per transaction; writers wait for one batch at most"
    )
    checkpoint_key: str | None = Field(
        None,
        description="${VAR} or ${file:path} with the key that signs prune checkpoints; "
        "default <home>/audit-checkpoint.key, made by the first prune (mode 0600)",
    )

    @field_validator("prune_every")
    @classmethod
    def _every_is_a_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("checkpoint_key")
    @classmethod
    def _key_is_a_reference(cls, value: str | None) -> str | None:
        if value is not None and not references(value):
            raise ValueError(
                "write a reference to the key, such as ${AUDIT_CHECKPOINT_KEY} or "
                "${file:/run/secrets/audit-key}, not the key itself: the fleet file is no place for secrets"
            )
        return value

    @property
    def prune_interval(self) -> float | None:
        """Seconds between scheduled prunes, or None."""
        if self.prune_every is None:
            return None

        return parse_duration(self.prune_every)

    @field_validator("mask_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{pattern!r} is not a valid regular expression ({exc}); escape special characters "
                    "with a backslash"
                ) from None
        return patterns

    @model_validator(mode="after")
    def _store_matches(self) -> AuditConfig:
        if self.store == "jsonl" and self.url:
            raise ValueError("url is for the sqlite and postgresql stores; the jsonl store takes file")
        if self.store != "jsonl" and self.file:
            raise ValueError(
                "file is for the jsonl store; set store: jsonl or remove file "
                f"({self.store or 'the fleet database'} is the store)"
            )
        if self.url and self.store and not self.url.startswith(self.store):
            raise ValueError(f"url {self.url.split('://')[0]}://... does not fit store: {self.store}")
        return self
