"""JSON lines files shared by processes: durable appends, and rewrites that lose no append.

Every writer appends a whole batch in one ``write`` under an exclusive ``flock`` and fsyncs it.
A rewrite (pruning) copies the file to a new one and renames it over the old: it copies what
is there without the lock, then takes the lock only to copy what was appended meanwhile, and
renames. A writer that opened the old file before the rename sees, once it holds the lock,
that its file is no longer the one at the path, and opens the path again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from mcpfleet.audit.chain import Scanned
from mcpfleet.audit.records import AuditRecord
from mcpfleet.exceptions import AuditStoreError

__all__ = ["append_durably", "dump_lines", "locked", "read_lines", "rewrite", "write_atomically"]

_LINE = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def dump_lines(records: Sequence[AuditRecord]) -> bytes:
    """Records as JSON lines."""
    return "".join(_LINE.encode(r.to_dict()) + "\n" for r in records).encode()


def read_lines(path: Path) -> Iterator[Scanned]:
    """Every non-empty line of a JSON lines file, parsed; unreadable lines carry their problem."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AuditStoreError(
            f"cannot read audit file {path}: {exc.strerror}; check its permissions"
        ) from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield Scanned(number, AuditRecord.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                yield Scanned(number, None, f"line {number}: {exc}")


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a rewrite may have renamed another over it)."""
    mine = os.fstat(fd)
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


@contextlib.contextmanager
def locked(path: Path, flags: int = os.O_WRONLY | os.O_APPEND | os.O_CREAT) -> Iterator[int]:
    """``path`` opened and exclusively locked, the very file at the path (not one renamed away)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _is_current(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` under an exclusive lock and fsync; on failure cut the file back."""
    with locked(path) as fd:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            os.ftruncate(fd, size)  # never leave half a batch behind
            raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a new file (mode 0600), fsynced, renamed over it."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    try:
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    _fsync_dir(path)


def rewrite(path: Path, keep: Callable[[bytes], bool], attempts: int = 5) -> int:
    """Rewrite ``path`` with only the lines ``keep`` accepts; returns how many were dropped.

    Appends never wait for the bulk of the copy, only for the lines appended while it ran.
    Lines ``keep`` cannot judge (unreadable ones) should be kept: ``verify`` reports them.
    """
    for _ in range(attempts):
        dropped = _rewrite_once(path, keep)
        if dropped is not None:
            return dropped
    raise AuditStoreError(f"{path} kept being replaced while it was pruned; is another prune running?")


def _rewrite_once(path: Path, keep: Callable[[bytes], bool]) -> int | None:
    try:
        source = path.open("rb")
    except FileNotFoundError:
        return 0
    draft = path.with_name(f".{path.name}.prune-{secrets.token_hex(4)}")
    dropped = 0
    with source:
        fd = source.fileno()
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        with open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as target:
            try:

                def copy(until: int | None) -> None:
                    nonlocal dropped
                    while until is None or source.tell() < until:
                        line = source.readline()
                        if not line:
                            return
                        if keep(line):
                            target.write(line)
                        else:
                            dropped += 1

                fcntl.flock(fd, fcntl.LOCK_EX)  # what is there now is whole batches: appends finish
                committed = os.fstat(fd).st_size  # (or are cut back) before they let go of the lock
                fcntl.flock(fd, fcntl.LOCK_UN)
                copy(until=committed)
                fcntl.flock(fd, fcntl.LOCK_EX)  # writers wait from here to the rename
                if not _is_current(fd, path):
                    return None  # another rewrite replaced it: start again from the new file
                source.seek(source.tell())  # forget what was buffered at the old end of file
                copy(until=None)
                target.flush()
                os.fsync(target.fileno())
                os.replace(draft, path)
                _fsync_dir(path)
            finally:
                draft.unlink(missing_ok=True)
    return dropped
