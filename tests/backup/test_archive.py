"""Backup archives that are malicious, damaged, altered or foreign: refused, and nothing written."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from backup_helpers import tree
from mcpfleet.backup import BackupManager
from mcpfleet.exceptions import BackupCorruptError, ForeignArchiveError, UnsafeArchiveError

pytestmark = pytest.mark.timeout(60)


def archive_of(
    entries: list[tuple[tarfile.TarInfo, bytes]], manifest_extra: dict[str, Any] | None = None
) -> bytes:
    """A tar.gz with a valid manifest (checksums right) and the given entries."""
    files = {
        info.name: {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
        for info, content in entries
    }
    manifest = {
        "format": "mcpfleet-backup", "version": 1, "id": "20260101T000000Z-abcdef",
        "created": "2026-01-01T00:00:00+00:00", "servers": ["evil"], "files": files, **(manifest_extra or {}),
    }  # fmt: skip
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        blob = json.dumps(manifest).encode()
        head = tarfile.TarInfo("manifest.json")
        head.size = len(blob)
        tar.addfile(head, io.BytesIO(blob))
        for info, content in entries:
            if info.isreg():
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return raw.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b"pwned" if kind == tarfile.REGTYPE else b""


MALICIOUS = {
    "dotdot": [entry("home/data/evil/../../../x")],
    "dotdot-top": [entry("../x")],
    "absolute": [entry("/tmp/mcpfleet-evil-x")],
    "symlink-out": [entry("home/data/evil/etc", tarfile.SYMTYPE, "/etc"), entry("home/data/evil/etc/x")],
    "hardlink-out": [entry("home/data/evil/passwd", tarfile.LNKTYPE, "/etc/passwd")],
    "device": [entry("home/data/evil/null", tarfile.CHRTYPE)],
    "fifo": [entry("home/data/evil/pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", list(MALICIOUS))
def test_malicious_archives_are_refused_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    backups = BackupManager(tmp_path / "backups")
    backups.backup_dir.mkdir()
    archive = backups.backup_dir / "mcpfleet-backup-20260101T000000Z-abcdef.tar.gz"
    archive.write_bytes(archive_of(MALICIOUS[case]))
    before = tree(tmp_path)
    with pytest.raises(UnsafeArchiveError) as caught:
        backups.restore("20260101T000000Z-abcdef", tmp_path / "target" / "home")
    assert "refused" in str(caught.value) or "outside" in str(caught.value)
    with pytest.raises(UnsafeArchiveError):
        backups.verify(str(archive))
    assert tree(tmp_path) == before  # not even the target folder
    assert not Path("/tmp/mcpfleet-evil-x").exists() and not Path("/etc/x").exists()
    assert not (tmp_path / "x").exists() and not Path("/x").exists()


def damaged(path: Path, how: str) -> Path:
    raw = bytearray(path.read_bytes())
    if how == "flipped-middle":
        raw[len(raw) // 2] ^= 0x01
    elif how == "flipped-end":
        raw[-12] ^= 0x40  # inside the last deflate block or the gzip trailer
    elif how == "truncated":
        raw = raw[: len(raw) * 2 // 3]
    elif how == "truncated-tail":
        raw = raw[:-4]
    out = path.with_name(f"mcpfleet-backup-{how}.tar.gz")
    out.write_bytes(bytes(raw))
    return out


@pytest.mark.parametrize("how", ["flipped-middle", "flipped-end", "truncated", "truncated-tail"])
def test_damaged_archives_are_refused(tmp_path: Path, one_backup: Path, how: str) -> None:
    bad = damaged(one_backup, how)
    backups = BackupManager(tmp_path / "backups")
    with pytest.raises(BackupCorruptError, match=r"corrupted|truncated|damaged"):
        backups.verify(str(bad))
    with pytest.raises(BackupCorruptError):
        backups.restore(str(bad), tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".restored")]


def test_altered_members_are_refused(tmp_path: Path) -> None:
    good = {"sha256": hashlib.sha256(b"pwned").hexdigest(), "size": 5}
    cases = {
        "does not match its SHA-256": {"home/data/evil/a": {"sha256": "0" * 64, "size": 5}},
        "truncated: home/data/evil/b missing": {"home/data/evil/a": good, "home/data/evil/b": good},
        "not in its manifest": {},
    }
    backups = BackupManager(tmp_path)
    for message, files in cases.items():
        path = tmp_path / "altered.tar.gz"
        path.write_bytes(archive_of([entry("home/data/evil/a")], {"files": files}))
        with pytest.raises(BackupCorruptError, match=message):
            backups.restore(str(path), tmp_path / "restored")
        assert not (tmp_path / "restored").exists()


def test_foreign_archives_are_refused(tmp_path: Path) -> None:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w:gz") as tar:
        info, content = entry("README")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("manifest.json", "{}")
    other_format = archive_of([], {"format": "something-else"})
    newer = archive_of([], {"version": 99})
    backups = BackupManager(tmp_path)
    for name, blob, error in [
        ("tar", plain.getvalue(), "does not start with manifest.json"),
        ("zip", zipped.getvalue(), "not a gzip-compressed tar"),
        ("random", os.urandom(5000), "not a gzip-compressed tar"),
        ("other", other_format, "names no mcpfleet-backup"),
        ("newer", newer, "format version 99"),
    ]:
        path = tmp_path / f"{name}.tar.gz"
        path.write_bytes(blob)
        with pytest.raises(ForeignArchiveError, match=error):
            backups.restore(str(path), tmp_path / "restored")
        assert not (tmp_path / "restored").exists()
    (tmp_path / "empty.tar.gz").write_bytes(b"")
    with pytest.raises(BackupCorruptError, match="empty"):
        backups.verify(str(tmp_path / "empty.tar.gz"))
