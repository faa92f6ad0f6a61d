"""The audit log's sealing and writing in a process of its own (``audit.writer: process``).

Masking, canonical JSON, the chain link and the store's write cost the gateway about a third of
its time per call when they share its interpreter: they hold the GIL the event loop needs.
Here the gateway only notes each call (a tuple) and, every few milliseconds of loop turns, hands
what they noted to a child process (one pickled frame on its stdin); the child runs an ordinary
:class:`~mcpfleet.audit.AuditLogger` that seals, batches, writes and spills as in-process.

Nothing accepted is lost to a child that dies: the parent keeps every note until the child
reports it stored or spilled (``state`` frames, every 50 ms), starts a new child (a new chain)
and hands it what was not reported. Notes it cannot hand to any child are sealed here, in a
chain of their own, into the spill file, which the next writer replays into the store. A note
the old child stored but had not reported yet is then recorded twice, in two chains: a
duplicate, never a gap.

Frames, both ways: 4 bytes of length (little-endian) and a pickle. To the child: the spec
first, then ``("notes", [noted, ...])``, ``("record", token, noted)``, ``("flush", token,
timeout)``, ``("close", token, timeout)``. From it: ``("state", AuditStats)`` and
``("reply", token, ok, value)``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import mcpfleet
from mcpfleet.audit.chain import new_chain_id
from mcpfleet.audit.masking import Masker
from mcpfleet.audit.sealing import Noted, Sealer
from mcpfleet.audit.spill import SpillFile
from mcpfleet.audit.stores.base import BaseAuditStore
from mcpfleet.audit.stores.jsonl import JsonlAuditStore
from mcpfleet.audit.stores.postgres import PostgresAuditStore
from mcpfleet.audit.stores.sqlite import SqliteAuditStore
from mcpfleet.audit.writer import AuditStats
from mcpfleet.exceptions import AuditError

__all__ = ["AuditChild", "frame", "read_frame", "store_spec", "write_frame"]

log = logging.getLogger("mcpfleet.audit")

STATE_EVERY = 0.05  # seconds between the child's reports of what it stored
_HELLO_TIMEOUT = 30.0
_NO_STATS = AuditStats(0, 0, 0, 0, 0, 0, False)


def frame(message: Any) -> bytes:
    """``message`` as a frame: 4 bytes of length, then its pickle."""
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(4, "little") + data


def write_frame(stream: IO[bytes], message: Any) -> None:
    stream.write(frame(message))
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message, or None at the end of the stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    size = int.from_bytes(head, "little")
    data = stream.read(size)
    return pickle.loads(data) if len(data) == size else None


def store_spec(store: BaseAuditStore) -> tuple[str, str, str | None]:
    """What the child needs to open ``store`` again: kind, file or database URL, table."""
    kind = type(store)  # a subclass may behave otherwise: the child could only open its base
    if isinstance(store, JsonlAuditStore) and kind is JsonlAuditStore:
        return ("jsonl", str(store.path), None)
    if isinstance(store, SqliteAuditStore) and kind is SqliteAuditStore:
        return ("sqlite", str(store.database.url.database), store.table.name)
    if isinstance(store, PostgresAuditStore) and kind is PostgresAuditStore:
        return ("postgresql", store.database.url.render_as_string(hide_password=False), store.table.name)
    raise AuditError(
        f"writer='process' opens the store again in its own process, and cannot do so for {store!r} "
        f"(a {kind.__name__}); "
        "use a SqliteAuditStore, PostgresAuditStore or JsonlAuditStore, or writer='thread'"
    )


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError, ValueError):  # closing a broken pipe flushes: EPIPE
                pipe.close()


@dataclass
class _Reply:
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False
    value: Any = None


class AuditChild:
    """The parent's side: starts the child, hands it notes, restarts it, rescues what it lost."""

    def __init__(self, spec: dict[str, Any], spill: Path, masker: Masker) -> None:
        self._spec, self._spill, self._masker = spec, spill, masker
        # Two locks, always taken in this order: _pipe keeps frames whole and in order; _lock
        # guards the rest and is never held while a frame is written to a running child (its
        # reader must be able to take acknowledgements while a write waits for room).
        self._pipe = threading.Lock()
        self._lock = threading.RLock()
        self._tokens = itertools.count()
        self._replies: dict[int, _Reply] = {}
        self._unacked: deque[Noted] = deque()  # handed to the current child, not reported stored
        self._acked = 0  # notes the current child reported stored (or spilled, or failed)
        self._state = _NO_STATS  # the current child's last report
        self._earlier = _NO_STATS  # what earlier children reported, added up
        self._rescued = 0
        self._handed = 0  # notes given to this object: handed to a child or rescued
        self._closing = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._hello = threading.Event()
        self._retry_at = self._started_at = 0.0
        self._rescuer: Sealer | None = None  # seals what no child could take, in one chain
        self.chain = ""  # the current child's; started at the first note (a gateway that never
        # records starts none: it costs a second of CPU, importing SQLAlchemy)

    # ------------------------------------------------------------------ sending

    def send(self, notes: list[Noted]) -> None:
        """Hand ``notes`` to the child, in order (never raises for the child's sake)."""
        try:
            data = frame(("notes", notes))
        except Exception:  # an argument only Python holds (a lock, a socket): its masked text goes
            notes = [self._portable(noted) for noted in notes]
            data = frame(("notes", notes))
        with self._pipe:
            with self._lock:
                self._handed += len(notes)
                if not self._ready():
                    self._rescue(notes)
                    return
                self._unacked.extend(notes)
                proc = self._proc
            self._write(proc, data)

    def _portable(self, noted: Noted) -> Noted:
        """``noted``, picklable: its params as masking makes them (JSON-safe), its error as text."""
        try:
            pickle.dumps(noted, pickle.HIGHEST_PROTOCOL)
            return noted
        except Exception:
            moment, server, tool, params, outcome, error, latency, user, role, client, request_id = noted
            params = None if params is None else self._masker.mask(params)
            error = None if error is None else str(error)
            return (moment, server, tool, params, outcome, error, latency, user, role, client, request_id)

    def call(self, kind: str, arg: Any, timeout: float) -> Any:
        """A request the child answers (``record``, ``flush``, ``close``); AuditError if it cannot."""
        for _ in range(1 if kind == "record" else 2):  # once more on a new child if this one died
            with self._pipe:
                with self._lock:
                    if not self._ready():
                        break
                    token = next(self._tokens)
                    reply = self._replies[token] = _Reply()
                    if kind == "record":
                        arg = self._portable(arg)
                        self._handed += 1
                        self._unacked.append(arg)
                    proc = self._proc
                self._write(proc, frame((kind, token, arg)))
            reply.done.wait(timeout)
            with self._lock:
                self._replies.pop(token, None)
            if reply.done.is_set() and reply.ok:
                return reply.value
            if reply.done.is_set() and reply.value is not None:
                raise AuditError(str(reply.value))
            if not reply.done.is_set():
                raise AuditError(f"the audit process did not answer {kind} within {timeout:g}s")
        raise AuditError(
            "the audit process stopped before it answered; what it was given is stored by the "
            "next one, or waits in the spill file"
        )

    @staticmethod
    def _write(proc: subprocess.Popen[bytes] | None, data: bytes) -> None:
        assert proc is not None and proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):  # it died: the reader restarts it, with what it lost
            proc.stdin.write(data)
            proc.stdin.flush()

    # ------------------------------------------------------------------ what the child reports

    def stats(self) -> AuditStats:
        """Counters of every child so far (and of what was rescued here); ``queue_depth``:
        notes handed over and not reported stored yet."""
        with self._lock:
            now, before = self._state, self._earlier
            return replace(
                now,
                recorded=self._handed,
                written=before.written + now.written,
                spilled=before.spilled + now.spilled + self._rescued,
                replayed=before.replayed + now.replayed,
                failed=before.failed + now.failed,
                queue_depth=len(self._unacked),
            )

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        while (message := read_frame(proc.stdout)) is not None:
            if message[0] == "hello":
                self._hello.set()
            elif message[0] == "state":
                with self._lock:
                    self._state = state = message[1]
                    done = state.written + state.spilled + state.failed
                    while self._acked < done and self._unacked:
                        self._unacked.popleft()
                        self._acked += 1
            elif message[0] == "reply":
                _, token, ok, value = message
                with self._lock:
                    reply = self._replies.get(token)
                if reply is not None:
                    reply.ok, reply.value = ok, value
                    reply.done.set()
        code = proc.wait()
        _close_pipes(proc)
        with self._pipe, self._lock:
            if proc is not self._proc:
                return
            for reply in self._replies.values():
                reply.done.set()  # ok False, no value: call() tries the next child
            if self._closing:
                return
            log.error(
                "the audit process exited (code %s) with %d record(s) it had not stored; "
                "starting another to store them", code, len(self._unacked),
            )  # fmt: skip
            self._retire()
            if self._hello.is_set() and time.monotonic() - self._started_at > 1.0:
                self._start()
            else:  # it failed to start, or soon after: try later, keep what it lost in the spill file
                self._retry_at = time.monotonic() + 5.0
                self._rescue(list(self._unacked))
                self._unacked.clear()

    # ------------------------------------------------------------------ life

    def _ready(self) -> bool:
        if self._proc is None and not self._closing and time.monotonic() >= self._retry_at:
            self._start()
        return self._proc is not None

    def _start(self) -> None:
        self.chain = new_chain_id()
        self._hello = threading.Event()
        package_root = str(Path(mcpfleet.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "mcpfleet.audit.child"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                start_new_session=True,  # Ctrl-C stops the gateway, which then closes this
            )  # fmt: skip
            assert proc.stdin is not None
            write_frame(proc.stdin, {**self._spec, "chain": self.chain})
        except OSError as exc:
            log.error("cannot start the audit process (%s); records go to spill file %s", exc, self._spill)
            self._retry_at = time.monotonic() + 5.0
            return
        self._proc, self._acked, self._state = proc, 0, _NO_STATS
        self._started_at = time.monotonic()
        threading.Thread(target=self._read, args=(proc,), name="audit-child-reader", daemon=True).start()
        if self._unacked:  # what the last child lost goes first (the caller holds both locks)
            self._write(proc, frame(("notes", list(self._unacked))))

    def _retire(self) -> None:
        """Fold the current child's counts into the earlier ones' and forget it."""
        now, before = self._state, self._earlier
        self._earlier = replace(
            before,
            written=before.written + now.written, spilled=before.spilled + now.spilled,
            replayed=before.replayed + now.replayed, failed=before.failed + now.failed,
        )  # fmt: skip
        self._state, self._proc = _NO_STATS, None

    def _rescue(self, notes: list[Noted]) -> None:
        """Seal ``notes`` here, in a chain of their own, into the spill file."""
        if not notes:
            return
        if self._rescuer is None:
            self._rescuer = Sealer(new_chain_id(), self._masker)
        records = [self._rescuer.seal(noted, None) for noted in notes]
        try:
            SpillFile(self._spill).append(records)
        except OSError as exc:
            log.error("audit: %d record(s) lost: no audit process and spill file %s failed: %s",
                      len(records), self._spill, exc)  # fmt: skip
            return
        self._rescued += len(records)

    def wait_started(self) -> str:
        """The current chain, once the child runs (AuditError if it does not start)."""
        with self._pipe, self._lock:
            if not self._ready():
                return self.chain  # closed, or none can start now
            hello = self._hello
        if not hello.wait(_HELLO_TIMEOUT):
            raise AuditError(f"the audit process did not start within {_HELLO_TIMEOUT:g}s")
        return self.chain

    def close(self, timeout: float) -> bool:
        """Flush within ``timeout`` and stop the child; what it did not take goes to the spill file."""
        flushed = False
        with self._lock:
            self._closing = True  # the child exits after this: no new one
            if self._proc is None and not self._unacked:  # none running, nothing waiting
                return self._rescued == 0
        try:
            flushed = bool(self.call("close", timeout, timeout + 5.0))
        except AuditError as exc:
            log.warning("audit: %s", exc)
        with self._lock:
            proc = self._proc
        if proc is not None:
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            _close_pipes(proc)
        with self._lock:
            left = list(self._unacked)
            self._unacked.clear()
            self._retire()
        if left:
            self._rescue(left)
            flushed = False
        return flushed
