"""The backup archive: one gzip-compressed tar whose first member is ``manifest.json``.

    mcpfleet-backup-20260301T120000Z-1a2b3c.tar.gz
      manifest.json                    format, id, created, and the SHA-256 and size of every other member
      fleet/mcpfleet.yaml              the fleet file (literal secrets redacted unless asked)
      fleet/servers.json               every server's config, as ``restore_configs`` returns it
      fleet/.env                       only when asked (``include_env_file``)
      home/configs/install-lock.json   exact installed versions: packages reinstall from it
      home/configs/<server>.yaml       configs applied through the API
      home/data/<server>/...           each server's data folder
      home/fleet.db                    the SQLite fleet database (online backup API)
      database.sql                     ``pg_dump`` of a PostgreSQL fleet database

Members are regular files only: no folders, links or devices. Reading checks every name
(relative, no ``..``), every type and every checksum, and reads the gzip stream to its end so its
CRC is checked too; an archive is written under a temporary name, fsynced, then renamed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from mcpfleet.exceptions import BackupCorruptError, BackupError, ForeignArchiveError, UnsafeArchiveError

__all__ = [
    "FORMAT",
    "Entry",
    "FileDigest",
    "Manifest",
    "Sink",
    "check_name",
    "read_manifest",
    "scan",
    "write_archive",
]

FORMAT = "mcpfleet-backup"
VERSION = 1
MANIFEST = "manifest.json"
_CHUNK = 1 << 20
# Read errors that mean "damaged": zlib and gzip complain about bad data, tarfile about bad headers.
_DAMAGE = (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError, OSError)


@dataclass(frozen=True)
class FileDigest:
    sha256: str
    size: int


@dataclass(frozen=True)
class Entry:
    """One member to write: its name in the archive and its content (bytes, or a file to stream)."""

    name: str
    source: bytes | Path


@dataclass(frozen=True)
class Manifest:
    """What a backup holds; stored as the archive's first member."""

    id: str
    created: datetime
    files: Mapping[str, FileDigest]
    servers: tuple[str, ...] = ()
    database: str | None = None  # "sqlite" or "postgresql"
    source_home: str = ""
    redacted: tuple[str, ...] = ()  # config paths whose literal secret values were replaced by ***
    notes: tuple[str, ...] = field(default=())  # what was left out, and why

    def to_json(self) -> bytes:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "id": self.id,
            "created": self.created.isoformat(),
            "servers": list(self.servers),
            "database": self.database,
            "source_home": self.source_home,
            "redacted": list(self.redacted),
            "notes": list(self.notes),
            "files": {n: {"sha256": d.sha256, "size": d.size} for n, d in sorted(self.files.items())},
        }
        return json.dumps(data, indent=2).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> Manifest:
        try:
            data: Any = json.loads(raw)
        except ValueError:
            raise BackupCorruptError(
                f"{where}: its manifest is not valid JSON; the archive is damaged"
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ForeignArchiveError(f"{where} is not an mcpfleet backup (its manifest names no {FORMAT})")
        if data.get("version") != VERSION:
            raise ForeignArchiveError(
                f"{where} is an mcpfleet backup of format version {data.get('version')!r}; this mcpfleet "
                f"reads version {VERSION}: restore it with the mcpfleet version that made it"
            )
        try:
            files = {
                str(check_name(name)): FileDigest(str(d["sha256"]), int(d["size"]))
                for name, d in data["files"].items()
            }
            return cls(
                id=str(data["id"]),
                created=datetime.fromisoformat(data["created"]),
                files=files,
                servers=tuple(data.get("servers") or ()),
                database=data.get("database"),
                source_home=str(data.get("source_home") or ""),
                redacted=tuple(data.get("redacted") or ()),
                notes=tuple(data.get("notes") or ()),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupCorruptError(
                f"{where}: its manifest is incomplete ({exc!r}); the archive is damaged"
            ) from None


def check_name(name: str) -> PurePosixPath:
    """A member name as a relative path that stays inside any folder it is extracted into."""
    path = PurePosixPath(name)
    if (
        not name
        or "\0" in name
        or "\\" in name
        or path.is_absolute()
        or any(part in ("..", ".", "") for part in name.split("/"))
    ):
        raise UnsafeArchiveError(
            f"archive entry {name!r} would be written outside the restore folder (absolute or with "
            "'..'); the archive was refused and nothing was written. Use a backup mcpfleet made."
        )
    return path


def _digest(source: bytes | Path) -> FileDigest:
    if isinstance(source, bytes):
        return FileDigest(hashlib.sha256(source).hexdigest(), len(source))
    hasher, size = hashlib.sha256(), 0
    with source.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return FileDigest(hasher.hexdigest(), size)


def _add(tar: tarfile.TarFile, name: str, size: int, stream: IO[bytes], mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, mtime
    tar.addfile(info, stream)


def write_archive(path: Path, manifest: Manifest, entries: Sequence[Entry]) -> Manifest:
    """Write ``entries`` under ``path`` atomically; returns the manifest with every file's digest."""
    names = [e.name for e in entries]
    for name in names:
        check_name(name)
    if len(set(names)) != len(names) or MANIFEST in names:
        raise BackupError(f"internal: duplicate or reserved names among {names}")
    sealed = replace(manifest, files={e.name: _digest(e.source) for e in entries})
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    mtime = sealed.created.timestamp()
    try:
        with tmp.open("wb") as raw:
            with (
                gzip.GzipFile(fileobj=raw, mode="wb", mtime=int(mtime)) as gz,
                tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar,
            ):
                manifest_bytes = sealed.to_json()
                _add(tar, MANIFEST, len(manifest_bytes), io.BytesIO(manifest_bytes), mtime)
                for entry in entries:
                    size = sealed.files[entry.name].size
                    if isinstance(entry.source, bytes):
                        _add(tar, entry.name, size, io.BytesIO(entry.source), mtime)
                    else:
                        with entry.source.open("rb") as fh:
                            _add(tar, entry.name, size, fh, mtime)
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
    return sealed


@contextmanager
def _members(path: Path) -> Iterator[tuple[gzip.GzipFile, Iterator[tarfile.TarInfo], tarfile.TarFile]]:
    """The archive's members in order, with readable errors for foreign and damaged files."""
    where = str(path)
    try:
        with path.open("rb") as raw:
            head = raw.read(2)
            if not head:
                raise BackupCorruptError(f"{where} is empty; the backup was cut off: use another one")
            if head != b"\x1f\x8b":
                raise ForeignArchiveError(
                    f"{where} is not an mcpfleet backup (not a gzip-compressed tar archive)"
                )
            raw.seek(0)
            with (
                gzip.GzipFile(fileobj=raw, mode="rb") as gz,
                tarfile.open(fileobj=gz, mode="r|") as tar,
            ):
                yield gz, iter(tar), tar
    except BackupError:
        raise
    except FileNotFoundError:
        raise BackupError(f"{where} does not exist") from None
    except _DAMAGE as exc:
        raise BackupCorruptError(
            f"{where} is truncated or damaged ({exc or type(exc).__name__}); it cannot be restored: "
            "use another backup (`mcpfleet backup list`)"
        ) from None


def _check_type(info: tarfile.TarInfo, where: str) -> None:
    if not info.isreg():
        kind = "a symlink" if info.issym() else "a hard link" if info.islnk() else "not a regular file"
        raise UnsafeArchiveError(
            f"{where}: entry {info.name!r} is {kind}; mcpfleet backups hold regular files only, so the "
            "archive was refused and nothing was written"
        )


def _read_manifest(path: Path, members: Iterator[tarfile.TarInfo], tar: tarfile.TarFile) -> Manifest:
    first = next(members, None)
    if first is None or first.name != MANIFEST:
        raise ForeignArchiveError(f"{path} is not an mcpfleet backup (it does not start with {MANIFEST})")
    _check_type(first, str(path))
    stream = tar.extractfile(first)
    if stream is None:
        raise ForeignArchiveError(f"{path} is not an mcpfleet backup ({MANIFEST} has no content)")
    return Manifest.from_json(stream.read(), str(path))


def read_manifest(path: Path) -> Manifest:
    """The manifest alone (cheap: only the first member is read); no checksum is checked."""
    with _members(path) as (_gz, members, tar):
        return _read_manifest(path, members, tar)


def _write(out: IO[bytes], chunk: bytes, name: str) -> None:
    try:
        out.write(chunk)
    except OSError as exc:  # the disk, not the archive: say so instead of "damaged"
        raise BackupError(
            f"cannot write {name} from the backup: {exc.strerror}; free space and retry"
        ) from None


Sink = Callable[[str], IO[bytes] | None]


def scan(path: Path, sink: Sink | None = None) -> Manifest:
    """Read the whole archive and check it against its manifest; raise on the first problem.

    ``sink(name)`` may return a writable stream for a member's content (or None to skip it);
    content is written as it is read, so a caller must discard what it wrote if this raises.
    """
    with _members(path) as (gz, members, tar):
        manifest = _read_manifest(path, members, tar)
        seen: set[str] = set()
        for info in members:
            check_name(info.name)
            _check_type(info, str(path))
            expected = manifest.files.get(info.name)
            if expected is None or info.name in seen:
                raise BackupCorruptError(
                    f"{path}: entry {info.name!r} is not in its manifest (or appears twice); the archive "
                    "was altered: use another backup"
                )
            seen.add(info.name)
            stream = tar.extractfile(info)
            if stream is None:
                raise UnsafeArchiveError(f"{path}: entry {info.name!r} has no content; refused")
            out = sink(info.name) if sink is not None else None
            hasher, size = hashlib.sha256(), 0
            while chunk := stream.read(_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
                if out is not None:
                    _write(out, chunk, info.name)
            if FileDigest(hasher.hexdigest(), size) != expected:
                raise BackupCorruptError(
                    f"{path}: {info.name} does not match its SHA-256 in the manifest; the backup is "
                    "corrupted: use another one"
                )
        missing = sorted(set(manifest.files) - seen)
        if missing:
            raise BackupCorruptError(
                f"{path} is truncated: {', '.join(missing[:5])} missing; use another backup"
            )
        while gz.read(_CHUNK):  # to the end of the gzip stream, so its CRC and length are checked
            pass
    return manifest
