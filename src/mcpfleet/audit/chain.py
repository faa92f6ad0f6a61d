"""The hash chain: each record's ``hash`` covers its content and the ``hash`` before it.

Every writer (one :class:`~mcpfleet.audit.AuditLogger`) has its own chain, named
``<host>-<pid>-<random>``; its records are numbered ``seq`` 0, 1, 2, ... and

    hash = sha256(prev_hash "\\n" chain "\\n" seq "\\n" canonical JSON of the content)

with ``prev_hash`` of record 0 being 64 zeros. Several gateway processes can write to one store
without coordinating: :func:`verify` checks each chain on its own. Changing a record, removing
one, moving one or adding one (without recomputing every later hash) breaks its chain.
Removing the newest records of a chain leaves a valid, shorter chain: compare
:attr:`VerifyResult.heads` with a copy kept elsewhere to detect that.

Pruning removes the *oldest* records of a chain and leaves a signed
:class:`~mcpfleet.audit.checkpoint.Checkpoint`: the chain then starts after the checkpoint's
``seq``, from its ``hash``. Records at or below a checkpoint (a prune that stopped half-way, a
spill file replayed late) are skipped, except that the one at the checkpoint must match it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from mcpfleet.audit.checkpoint import Checkpoint, CheckpointKey
from mcpfleet.audit.records import GENESIS, AuditRecord
from mcpfleet.exceptions import AuditError

__all__ = ["BrokenRecord", "Scanned", "VerifyResult", "follow", "link", "new_chain_id", "verify"]

BreakKind = Literal["edited", "deleted", "reordered", "inserted", "checkpoint"]


def link(prev_hash: str, chain: str, seq: int, content: str) -> str:
    """The ``hash`` of a record at ``seq`` in ``chain`` after ``prev_hash``."""
    return hashlib.sha256(f"{prev_hash}\n{chain}\n{seq}\n{content}".encode()).hexdigest()


def new_chain_id() -> str:
    """A chain id unique to this writer: host, process and a random part."""
    host = socket.gethostname().split(".")[0][:40] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class Scanned:
    """A record as a store holds it: ``position`` is its line (JSONL) or row (SQL, by chain and
    seq), counting from 1; ``record`` is ``None`` when the entry cannot be read, ``problem`` says why."""

    position: int
    record: AuditRecord | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """The first record where a chain is broken, and how."""

    kind: BreakKind
    position: int
    reason: str
    chain: str | None = None
    seq: int | None = None
    record_id: str | None = None

    def describe(self) -> str:
        if self.kind == "checkpoint":
            return f"checkpoint: the checkpoint of chain {self.chain} (seq {self.seq}): {self.reason}"
        where = f"record {self.record_id} (chain {self.chain}, seq {self.seq})" if self.record_id else "entry"
        return f"{self.kind}: {where} at position {self.position}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :func:`verify` found. True when every chain is intact.

    ``heads`` maps each chain to its newest ``(seq, hash)``: kept elsewhere, it reveals later
    removal of a chain's newest records, which no chain can reveal by itself. ``pruned``
    records were removed by retention, under ``checkpoints`` signed checkpoints.
    """

    ok: bool
    records: int
    chains: int
    broken: BrokenRecord | None = None
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)
    pruned: int = 0
    checkpoints: int = 0

    def __bool__(self) -> bool:
        return self.ok

    def describe(self) -> str:
        if self.broken is not None:
            return f"BROKEN: {self.broken.describe()}"
        text = f"OK: {self.records} records in {self.chains} chains verified"
        if self.checkpoints:
            text += f"; {self.pruned} older records pruned under {self.checkpoints} signed checkpoint(s)"
        return text


@dataclass
class _Gap:
    low: int
    high: int
    after: BrokenRecord  # what to report if the gap is never filled


@dataclass
class _ChainState:
    last_seq: int = -1
    last_hash: str = GENESIS
    last_position: int = 0
    gaps: list[_Gap] = field(default_factory=list)
    broken: bool = False
    anchor: int = -1  # seq of the checkpoint: records up to it were pruned
    anchor_hash: str = GENESIS


def _fill(state: _ChainState, seq: int) -> bool:
    """Take ``seq`` out of the chain's gaps; whether it was missing."""
    for i, gap in enumerate(state.gaps):
        if gap.low <= seq <= gap.high:
            parts = [_Gap(gap.low, seq - 1, gap.after), _Gap(seq + 1, gap.high, gap.after)]
            state.gaps[i : i + 1] = [p for p in parts if p.low <= p.high]
            return True
    return False


def _check(state: _ChainState, rec: AuditRecord, position: int) -> BrokenRecord | None:
    def broken(kind: BreakKind, reason: str) -> BrokenRecord:
        return BrokenRecord(kind, position, reason, rec.chain, rec.seq, rec.id)

    if rec.seq <= state.anchor:  # pruned already, or about to be: only the anchor itself must match
        if rec.seq == state.anchor and rec.hash != state.anchor_hash:
            return broken("edited", "its hash differs from the checkpoint of this chain: it was changed")
        return None
    if link(rec.prev_hash, rec.chain, rec.seq, rec.content()) != rec.hash:
        return broken("edited", "its content does not match its hash: it was changed after it was written")
    if rec.seq <= state.last_seq:
        if _fill(state, rec.seq):
            return broken(
                "reordered",
                f"seq {rec.seq} comes after seq {state.last_seq} (position {state.last_position})",
            )
        return broken("inserted", f"seq {rec.seq} is already taken by an earlier record of this chain")
    if rec.seq > state.last_seq + 1:
        low, high = state.last_seq + 1, rec.seq - 1
        missing = f"seq {low}" if low == high else f"seq {low} to {high}"
        state.gaps.append(_Gap(low, high, broken("deleted", f"{missing} of this chain is missing before it")))
    elif rec.prev_hash != state.last_hash:
        before = "the chain's start (64 zeros)" if rec.seq == 0 else f"record seq {rec.seq - 1}"
        if rec.seq - 1 == state.anchor:
            before = f"the checkpoint of this chain (seq {state.anchor})"
        return broken(
            "edited",
            f"its prev_hash does not match the hash of {before}: one of them was edited and re-hashed, "
            "or this record was forged",
        )
    state.last_seq, state.last_hash, state.last_position = rec.seq, rec.hash, position
    return None


def follow(
    records: Iterable[AuditRecord], starts: Mapping[str, tuple[int, str]], through: Mapping[str, int]
) -> dict[str, tuple[int, str] | BrokenRecord]:
    """Walk each chain of ``through`` from ``starts[chain]`` (the ``seq`` and ``hash`` before its
    first record; default the chain's start) up to ``through[chain]``, over ``records`` in storage
    order: per chain the ``(seq, hash)`` reached if every link holds and none is missing, else
    the first break. Records of other chains are ignored."""
    states: dict[str, _ChainState] = {}
    for chain in through:
        seq, digest = starts.get(chain, (-1, GENESIS))
        states[chain] = _ChainState(seq, digest, anchor=seq, anchor_hash=digest)
    found: dict[str, tuple[int, str] | BrokenRecord] = {}
    for position, record in enumerate(records, 1):
        state = states.get(record.chain)
        if state is None or record.chain in found:
            continue
        problem = _check(state, record, position)
        if problem is not None:
            found[record.chain] = problem
    for chain, state in states.items():
        if chain in found:
            continue
        if state.gaps:
            found[chain] = state.gaps[0].after
        elif state.last_seq < through[chain]:
            low, high = state.last_seq + 1, through[chain]
            missing = f"seq {low}" if low == high else f"seq {low} to {high}"
            found[chain] = BrokenRecord("deleted", 0, f"{missing} of this chain is missing", chain, low)
        else:
            found[chain] = (state.last_seq, state.last_hash)
    return found


def verify(
    scanned: Iterable[Scanned], checkpoints: Iterable[Checkpoint] = (), key: CheckpointKey | None = None
) -> VerifyResult:
    """Check every chain in ``scanned`` (a store's records in storage order), each from its
    checkpoint if it has one (checked with ``key``); report the first broken record by position.

    Raises :class:`AuditError` if there are checkpoints and no ``key`` to check them with.
    """
    states: dict[str, _ChainState] = {}
    problems: list[BrokenRecord] = []
    pruned = 0
    marks = list(checkpoints)
    if marks:
        if key is None:
            raise AuditError(
                f"the audit log was pruned: checking its {len(marks)} checkpoint(s) needs the key that "
                f"signed them (key id {marks[0].key_id}); set audit.checkpoint_key, or restore "
                "audit-checkpoint.key in the fleet home"
            )
        for mark in marks:
            distrust = mark.problem(key)
            if distrust is not None:
                problems.append(BrokenRecord("checkpoint", 0, distrust, mark.chain, mark.seq))
                states[mark.chain] = _ChainState(broken=True)
                continue
            states[mark.chain] = _ChainState(mark.seq, mark.hash, anchor=mark.seq, anchor_hash=mark.hash)
            pruned += mark.pruned
    count = 0
    for item in scanned:
        count += 1
        if item.record is None:
            problems.append(BrokenRecord("edited", item.position, f"not an audit record: {item.problem}"))
            continue
        state = states.setdefault(item.record.chain, _ChainState())
        if state.broken:
            continue
        problem = _check(state, item.record, item.position)
        if problem is not None:
            problems.append(problem)
            state.broken = True
    for state in states.values():
        problems.extend(gap.after for gap in state.gaps)
    heads = {chain: (s.last_seq, s.last_hash) for chain, s in states.items() if s.last_seq >= 0}
    first = min(problems, key=lambda p: p.position, default=None)
    return VerifyResult(first is None, count, len(states), first, heads, pruned, len(marks))
