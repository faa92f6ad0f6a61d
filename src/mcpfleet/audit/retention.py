"""Retention: prune the oldest audit records, by age and by size, and leave signed checkpoints.

    policy = RetentionPolicy(max_age=timedelta(days=90), max_bytes=500_000_000)
    result = prune(store, policy, key)           # key: load_key(config, create=True)
    print(result.describe())

A prune:

1. finds the cutoff: ``now - max_age``, moved later if the records take more than
   ``max_bytes`` (to the time before which enough of the oldest records lie);
2. per chain, finds the last record older than the cutoff; a chain loses a prefix only,
   never a record in its middle (:meth:`BaseAuditStore.prune_bounds`);
3. walks the records to be removed (all chains in one pass) from each chain's previous
   checkpoint, or its start: if a link is broken or a record is missing, that chain is *not*
   pruned, and the result says why (a prune never seals away tampering; ``mcpfleet audit
   verify`` shows it);
4. saves each chain's new signed checkpoint (:mod:`mcpfleet.audit.checkpoint`), then deletes
   the records in batches. A prune that stops between the two leaves records behind its
   checkpoint, which ``verify`` skips and the next prune deletes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mcpfleet.audit.chain import BrokenRecord, follow
from mcpfleet.audit.checkpoint import Checkpoint, CheckpointKey
from mcpfleet.audit.records import GENESIS, AuditRecord, to_utc
from mcpfleet.audit.stores.base import BaseAuditStore, human_size
from mcpfleet.exceptions import AuditError

if TYPE_CHECKING:
    from mcpfleet.audit.config import AuditConfig

__all__ = ["ChainPrune", "PruneResult", "RetentionPolicy", "prune"]

log = logging.getLogger("mcpfleet.audit")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long records are kept (``max_age``) and how much space they may take (``max_bytes``);
    either may be None. ``batch_size`` records are deleted per transaction."""

    max_age: timedelta | None = timedelta(days=90)
    max_bytes: int | None = None
    batch_size: int = 5000

    def __post_init__(self) -> None:
        if self.max_age is not None and self.max_age <= timedelta(0):
            raise AuditError(f"the retention age must be positive, not {self.max_age}")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise AuditError(f"the audit size bound must be a positive number of bytes, not {self.max_bytes}")
        if self.batch_size < 1:
            raise AuditError(f"the prune batch size must be at least 1 record, not {self.batch_size}")

    @classmethod
    def from_config(cls, audit: AuditConfig, *, max_age: timedelta | None = None) -> RetentionPolicy:
        """The fleet file's ``audit:`` retention; ``max_age`` replaces ``retention_days`` if given."""
        if max_age is None and audit.retention_days is not None:
            max_age = timedelta(days=audit.retention_days)
        max_bytes = None if audit.max_size_mb is None else int(audit.max_size_mb * 1_000_000)
        return cls(max_age, max_bytes, audit.prune_batch_size)

    @property
    def active(self) -> bool:
        return self.max_age is not None or self.max_bytes is not None


@dataclass(frozen=True, slots=True)
class ChainPrune:
    """One chain's part of a prune: ``records`` removed (or to be), up to ``through``."""

    chain: str
    records: int
    through: int
    checkpoint: Checkpoint | None = None  # None in a dry run


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune did (or, with ``dry_run``, would do)."""

    cutoff: datetime | None
    pruned: int
    chains: list[ChainPrune] = field(default_factory=list)
    refused: list[BrokenRecord] = field(default_factory=list)  # chains left alone, and why
    bytes_before: int = 0
    bytes_after: int = 0
    reclaimed: str = ""
    dry_run: bool = False

    def describe(self) -> str:
        when = "" if self.cutoff is None else self.cutoff.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        if self.cutoff is None:
            text = "nothing to prune: the records are within the size bound and no age limit is set"
        elif self.pruned == 0 and not self.chains:
            text = f"nothing to prune: no record is older than {when}"
        elif self.dry_run:
            text = (
                f"would prune {self.pruned} records older than {when} from {len(self.chains)} chain(s); "
                "nothing was changed"
            )
        else:
            text = (
                f"pruned {self.pruned} records older than {when} from {len(self.chains)} chain(s); "
                f"store {human_size(self.bytes_before)} -> {human_size(self.bytes_after)}; {self.reclaimed}"
            )
        if self.reclaimed and not (self.pruned or self.chains):
            text += f"; {self.reclaimed}"
        if self.refused:
            text += f"; {len(self.refused)} chain(s) not pruned because their records do not verify"
        return text


def cutoff_for(store: BaseAuditStore, policy: RetentionPolicy, now: datetime) -> datetime | None:
    """Records older than this go; None if none need to."""
    cutoff = now - policy.max_age if policy.max_age is not None else None
    if policy.max_bytes is not None:
        used, count = store.measure()
        if count and used > policy.max_bytes:
            keep = int(policy.max_bytes // (used / count))
            oldest_kept = store.time_at(count - keep) or now  # past the end: all of them go
            cutoff = oldest_kept if cutoff is None else max(cutoff, oldest_kept)
    return cutoff


def prune(
    store: BaseAuditStore,
    policy: RetentionPolicy,
    key: CheckpointKey | None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    vacuum: bool = False,
    stop: threading.Event | None = None,
) -> PruneResult:
    """Prune ``store`` as ``policy`` says, signing checkpoints with ``key`` (see the module).

    ``key`` may be None only for a dry run of a store that holds no checkpoints yet;
    ``vacuum`` asks the store to give freed space back now (SQLite: ``VACUUM``); ``stop``, once
    set, ends the prune early: while it reads (nothing is changed), or between batches of deletes.
    """
    now = to_utc(now or datetime.now(UTC))
    before = store.size_bytes()
    cutoff = cutoff_for(store, policy, now)
    if cutoff is None:
        reclaimed = store.reclaim(full=True) if vacuum and not dry_run else ""
        return PruneResult(None, 0, [], [], before, store.size_bytes(), reclaimed, dry_run)
    marks = {mark.chain: mark for mark in store.checkpoints()}
    if key is None and (marks or not dry_run):
        raise AuditError(
            "pruning needs the checkpoint key: set audit.checkpoint_key, or let the prune create "
            "audit-checkpoint.key in the fleet home"
        )
    distrusted = {chain: why for chain, mark in marks.items() if key and (why := mark.problem(key))}
    refused = [
        BrokenRecord("checkpoint", 0, why, chain, marks[chain].seq) for chain, why in distrusted.items()
    ]
    starts = {chain: (mark.seq, mark.hash) for chain, mark in marks.items() if chain not in distrusted}
    walk: dict[str, int] = {}
    planned: list[ChainPrune] = []
    for chain, through in store.prune_bounds(cutoff).items():
        if chain in distrusted:
            continue
        if chain in starts and through <= starts[chain][0]:  # left behind its checkpoint by a stopped prune
            planned.append(ChainPrune(chain, 0, starts[chain][0]))
        else:
            walk[chain] = through
    ranges = {chain: (starts.get(chain, (-1, GENESIS))[0], through) for chain, through in walk.items()}
    with contextlib.closing(store.records_between(ranges)) as records:
        heads = follow(_until(records, stop), starts, walk)
    if stop is not None and stop.is_set():
        return PruneResult(cutoff, 0, [], [], before, before, "", dry_run)
    for chain, head in sorted(heads.items()):
        if isinstance(head, BrokenRecord):
            refused.append(head)
            continue
        signed = None
        if not dry_run and key is not None:
            signed = Checkpoint.sign(chain, seq=head[0], hash=head[1], time=now, key=key)
        planned.append(ChainPrune(chain, head[0] - ranges[chain][0], head[0], signed))
    for problem in refused:
        log.error("audit chain %s not pruned: %s; run `mcpfleet audit verify`", problem.chain,
                  problem.describe())  # fmt: skip
    if dry_run:
        total = sum(p.records for p in planned)
        return PruneResult(cutoff, total, planned, refused, before, before, "", dry_run=True)
    store.save_checkpoints([p.checkpoint for p in planned if p.checkpoint is not None])
    deleted = store.delete_through({p.chain: p.through for p in planned}, policy.batch_size, stop)
    reclaimed = store.reclaim(full=vacuum) if deleted or vacuum else ""
    pruned = [p for p in planned if p.checkpoint is not None]
    return PruneResult(cutoff, deleted, pruned, refused, before, store.size_bytes(), reclaimed)


def _until(records: Iterable[AuditRecord], stop: threading.Event | None) -> Iterator[AuditRecord]:
    for record in records:
        if stop is not None and stop.is_set():
            return  # the prune ends without a change
        yield record
