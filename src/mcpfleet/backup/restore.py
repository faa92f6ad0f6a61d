"""Restoring a backup archive into a new fleet home.

    <new home>/
      mcpfleet.yaml        the fleet file          (fleet/mcpfleet.yaml)
      .env                 only if it was backed up (fleet/.env)
      configs/ data/       as they were            (home/configs/, home/data/)
      fleet.db             the SQLite fleet database (home/fleet.db)
      fleet-db.sql         a PostgreSQL dump, to load with psql (database.sql)

Everything is checked first (names, types, checksums), then extracted into a hidden sibling
folder that is renamed to the new home only when complete: a failed restore leaves nothing.
Installed packages are not in the archive; ``mcpfleet up`` reinstalls them at the versions the
restored install lock names.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mcpfleet.backup.archive import Manifest, Sink, scan
from mcpfleet.config import load_config
from mcpfleet.exceptions import BackupError, ConfigError, UnsafeArchiveError
from mcpfleet.install.lock import InstallLock

__all__ = ["RestoreResult", "destination", "restore_into"]

_TOP = {"fleet/mcpfleet.yaml": "mcpfleet.yaml", "fleet/.env": ".env", "database.sql": "fleet-db.sql"}


@dataclass(frozen=True)
class RestoreResult:
    """What a restore wrote, and what the operator still has to do (``notes``)."""

    backup_id: str
    home: Path
    config_file: Path | None
    servers: tuple[str, ...]
    notes: tuple[str, ...]


def destination(name: str) -> str | None:
    """Where an archive member goes in the new home (relative), or None if it is not a file there."""
    if name in _TOP:
        return _TOP[name]
    if name.startswith("home/"):
        return name.removeprefix("home/")
    return None


def _check_target(home: Path) -> None:
    if home.is_symlink() or (home.exists() and (not home.is_dir() or any(home.iterdir()))):
        raise BackupError(
            f"{home} exists and is not an empty folder; restore into a new (or empty) fleet home: "
            "a restore never overwrites a fleet"
        )


def _opener(staging: Path) -> tuple[list[IO[bytes]], Sink]:
    opened: list[IO[bytes]] = []

    def sink(name: str) -> IO[bytes] | None:
        while opened:
            opened.pop().close()
        relative = destination(name)
        if relative is None:
            return None
        path = staging / relative
        if not path.resolve().is_relative_to(staging.resolve()):  # belt and braces: names were checked
            raise UnsafeArchiveError(f"archive entry {name!r} resolves outside {staging}; refused")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        stream = os.fdopen(fd, "wb")
        opened.append(stream)
        return stream

    return opened, sink


def _notes(manifest: Manifest, home: Path) -> list[str]:
    notes = list(manifest.notes)
    if manifest.redacted:
        notes.append(
            "these secret values were redacted (***) in the backup: set them again in mcpfleet.yaml, "
            "preferably as ${VAR} references: " + ", ".join(manifest.redacted)
        )
    if manifest.database == "postgresql":
        notes.append(
            f"the PostgreSQL fleet database is in {home / 'fleet-db.sql'}: load it into an empty "
            "database with `psql DATABASE_URL -f fleet-db.sql` and point database_url at it"
        )
    config = home / "mcpfleet.yaml"
    try:
        named = load_config(config).home_path().expanduser().resolve() if config.exists() else home
    except ConfigError:
        named = home
    if named != home.resolve():
        notes.append(
            f"mcpfleet.yaml still names the old home ({named}): run this fleet with --home {home} "
            "(or MCPFLEET_HOME), or edit its `home:`"
        )
    try:
        lock = InstallLock.load(home / "configs" / "install-lock.json")
    except ConfigError as exc:
        return [*notes, str(exc)]
    elsewhere = []
    for name in lock.servers():
        record = lock.get(name)
        path = record.detail.get("path") if record is not None else None
        if path and Path(path).exists() and not Path(path).is_relative_to(home):
            elsewhere.append(name)
    if elsewhere:
        notes.append(
            f"{', '.join(elsewhere)} still run from the packages of the old home until reinstalled: "
            f"`mcpfleet --home {home} install --force` installs them into the new home"
        )
    return notes


def restore_into(archive: Path, home: Path) -> RestoreResult:
    """Check ``archive`` completely, then restore it as the new fleet home ``home``."""
    home = home.expanduser().absolute()
    _check_target(home)
    manifest = scan(archive)  # refuse a damaged, foreign or unsafe archive before writing anything
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = home.with_name(f".{home.name}.restoring-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    opened, sink = _opener(staging)
    try:
        try:
            scan(archive, sink)
        finally:
            while opened:
                opened.pop().close()
        for folder in ("servers", "configs", "logs", "data"):
            (staging / folder).mkdir(exist_ok=True)
        _check_target(home)
        if home.exists():
            home.rmdir()
        staging.rename(home)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    config = home / "mcpfleet.yaml"
    return RestoreResult(
        backup_id=manifest.id,
        home=home,
        config_file=config if config.exists() else None,
        servers=manifest.servers,
        notes=tuple(_notes(manifest, home)),
    )
