"""``BackupManager``: backups of a fleet as archives in one folder, and how long they are kept.

    from mcpfleet.backup import BackupManager

    backups = BackupManager("/backup/mcp", retention_days=30)
    record = await backups.create(manager)      # the whole fleet in one archive
    backups.restore(record.id, "/opt/mcp-restored")

    # or step by step, as the operational guide does (each step leaves a complete archive):
    await backups.backup_configs(manager.get_all_configs())
    for server in manager.list_servers():
        await backups.backup_server_data(server, await manager.export_server_data(server))
    print(f"Backup completed: {backups.last_backup}")

What a backup holds is described in :mod:`mcpfleet.backup.archive`. Installed packages
(``servers/``) are not in it: they are reproducible from the install lock, which is.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from mcpfleet.backup.archive import Entry, Manifest, read_manifest, scan, write_archive
from mcpfleet.backup.restore import RestoreResult, restore_into
from mcpfleet.backup.serverdata import ServerData, export_server_data
from mcpfleet.backup.sources import config_bytes, copy_sqlite, find_pg_dump, pg_dump, redact_server_configs
from mcpfleet.config import FleetConfig
from mcpfleet.exceptions import BackupError, BackupNotFoundError, ConfigError
from mcpfleet.home import FleetHome, check_server_name

if TYPE_CHECKING:
    from mcpfleet.manager import MCPManager

__all__ = ["BackupManager", "BackupRecord"]

log = logging.getLogger("mcpfleet.backup")
PREFIX, SUFFIX = "mcpfleet-backup-", ".tar.gz"
_LABELS = {
    "fleet/mcpfleet.yaml": "fleet config",
    "fleet/servers.json": "server configs",
    "fleet/.env": ".env",
    "home/configs/install-lock.json": "install lock",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class BackupRecord:
    """One backup in the folder: ``contents`` names what is inside, for people."""

    id: str
    path: Path
    created: datetime
    size: int
    servers: tuple[str, ...]
    contents: tuple[str, ...]
    redacted: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.id} ({self.size} bytes: {', '.join(self.contents) or 'empty'})"


BackupRef = str | Path | BackupRecord  # what names a backup: its record, id, id prefix, or archive path


def _record(path: Path, manifest: Manifest) -> BackupRecord:
    contents = [label for name, label in _LABELS.items() if name in manifest.files]
    if manifest.database:
        contents.append(f"fleet database ({manifest.database})")
    contents += [f"data of {s}" for s in manifest.servers]
    return BackupRecord(
        manifest.id, path, manifest.created, path.stat().st_size, manifest.servers, tuple(contents),
        manifest.redacted, manifest.notes,
    )  # fmt: skip


def _collect(path: Path, wanted: Callable[[str], bool]) -> tuple[Manifest, dict[str, bytes]]:
    """Check the whole archive and return the content of the members ``wanted`` names."""
    found: dict[str, io.BytesIO] = {}

    def sink(name: str) -> IO[bytes] | None:
        if not wanted(name):
            return None
        found[name] = io.BytesIO()
        return found[name]

    manifest = scan(path, sink)
    return manifest, {name: buffer.getvalue() for name, buffer in found.items()}


class BackupManager:
    """Writes, lists, checks, restores and prunes the backups in ``backup_dir``.

    ``retention_days``: :meth:`prune` deletes backups older than that, never the newest.
    Literal secret values in the config are redacted unless ``include_secrets``; the ``.env``
    file is included only with ``include_env_file``. ``now`` (aware UTC) is the wall clock.
    """

    def __init__(
        self,
        backup_dir: str | Path,
        retention_days: float = 30,
        *,
        include_secrets: bool = False,
        include_env_file: bool = False,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        if retention_days <= 0:
            raise ConfigError(f"retention_days must be more than 0, not {retention_days}")
        self.backup_dir = Path(backup_dir).expanduser()
        self.retention_days = retention_days
        self.include_secrets = include_secrets
        self.include_env_file = include_env_file
        self.now = now
        self._open: Path | None = None  # the backup the guide's step-by-step calls add to

    @classmethod
    def for_fleet(
        cls, config: FleetConfig, home: FleetHome, backup_dir: str | Path | None = None
    ) -> BackupManager:
        """The backup folder and settings of a fleet's ``backup:`` section."""
        section = config.backup
        return cls(
            Path(backup_dir) if backup_dir is not None else section.directory(home.root),
            section.keep_days,
            include_secrets=section.include_secrets,
            include_env_file=section.include_env_file,
        )

    # ----------------------------------------------------------------- the folder

    def path_of(self, backup: BackupRef) -> Path:
        """The archive of a backup: a :class:`BackupRecord` (``last_backup``, ``list_backups()``),
        an id (or a unique prefix of one), or a path to an archive."""
        if isinstance(backup, BackupRecord):
            backup = backup.path
        backup_id = str(backup)
        if backup_id.endswith(SUFFIX) or "/" in backup_id:
            path = Path(backup_id).expanduser()
            if path.is_file():
                return path
            raise BackupNotFoundError(backup_id, str(path.parent))
        if re.fullmatch(r"[0-9A-Za-z][0-9A-Za-z-]*", backup_id):
            exact = self.backup_dir / f"{PREFIX}{backup_id}{SUFFIX}"
            if exact.is_file():
                return exact
            matches = sorted(self.backup_dir.glob(f"{PREFIX}{backup_id}*{SUFFIX}"))
            if len(matches) == 1:
                return matches[0]
        raise BackupNotFoundError(backup_id, str(self.backup_dir))

    def list_backups(self) -> list[BackupRecord]:
        """Every readable backup in the folder, newest first (unreadable ones are logged)."""
        records = []
        for path in self.backup_dir.glob(f"{PREFIX}*{SUFFIX}"):
            try:
                records.append(_record(path, read_manifest(path)))
            except BackupError as exc:
                log.warning("backup: %s", exc)
        return sorted(records, key=lambda r: (r.created, r.id), reverse=True)

    @property
    def last_backup(self) -> BackupRecord | None:
        """The newest backup, or None."""
        records = self.list_backups()
        return records[0] if records else None

    def verify(self, backup_id: BackupRef) -> BackupRecord:
        """Check every name, type and SHA-256 of a backup; raises :class:`BackupError` if any is off."""
        path = self.path_of(backup_id)
        return _record(path, scan(path))

    def prune(self) -> list[BackupRecord]:
        """Delete backups older than ``retention_days`` (never the newest); returns the deleted."""
        records = self.list_backups()
        cutoff = self.now() - timedelta(days=self.retention_days)
        doomed = [r for r in records[1:] if r.created < cutoff]
        for record in doomed:
            record.path.unlink(missing_ok=True)
            log.info("backup: pruned %s (made %s)", record.id, record.created.isoformat())
        for partial in self.backup_dir.glob(f".{PREFIX}*.partial-*"):  # left by a crash mid-write
            if datetime.fromtimestamp(partial.stat().st_mtime, UTC) < self.now() - timedelta(days=1):
                partial.unlink(missing_ok=True)
        return doomed

    # ----------------------------------------------------------------- writing

    def _manifest(self, **fields: Any) -> tuple[Path, Manifest]:
        created = self.now().astimezone(UTC)
        backup_id = f"{created:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        return self.backup_dir / f"{PREFIX}{backup_id}{SUFFIX}", Manifest(backup_id, created, {}, **fields)

    async def _write(self, path: Path, manifest: Manifest, entries: list[Entry]) -> BackupRecord:
        sealed = await asyncio.to_thread(write_archive, path, manifest, entries)
        log.info("backup: wrote %s", path)
        return _record(path, sealed)

    async def create(self, manager: MCPManager, *, timeout: float = 30.0) -> BackupRecord:
        """Back up the whole fleet into one new archive: config, install lock, every server's data
        (consistent while it runs) and the fleet database."""
        redacted: list[str] = []
        notes: list[str] = []
        entries = await asyncio.to_thread(self._fleet_entries, manager, redacted, notes)
        for server in manager.list_servers():
            data = await export_server_data(manager, server, timeout=timeout)
            entries += [Entry(f"home/data/{server}/{name}", content) for name, content in data.files.items()]
        with tempfile.TemporaryDirectory(prefix="mcpfleet-backup-") as tmp:
            database = await asyncio.to_thread(_database, manager.config, manager.home, Path(tmp), notes)
            if database is not None:
                entries.append(database[1])
            path, manifest = self._manifest(
                servers=tuple(manager.list_servers()), database=database[0] if database else None,
                source_home=str(manager.home.root), redacted=tuple(redacted), notes=tuple(notes),
            )  # fmt: skip
            return await self._write(path, manifest, entries)

    def _fleet_entries(self, manager: MCPManager, redacted: list[str], notes: list[str]) -> list[Entry]:
        """The fleet file, the servers' configs, the .env file if asked, and the configs folder."""
        path_text = manager.config_path.read_text("utf-8") if manager.config_path else None
        content, found = config_bytes(path_text, manager.config, self.include_secrets)
        servers_json, found_too = redact_server_configs(manager.get_all_configs(), self.include_secrets)
        redacted += dict.fromkeys([*found, *found_too])
        entries = [Entry("fleet/mcpfleet.yaml", content), Entry("fleet/servers.json", servers_json)]
        env_file = Path(manager.config.env_file).expanduser() if manager.config.env_file else None
        if self.include_env_file and env_file is not None and env_file.is_file():
            entries.append(Entry("fleet/.env", env_file.read_bytes()))
        return entries + self._configs_folder(manager.home, notes)

    def _configs_folder(self, home: FleetHome, notes: list[str]) -> list[Entry]:
        entries = []
        for path in sorted(home.configs.glob("*")) if home.configs.is_dir() else []:
            if path.is_symlink() or not path.is_file():
                continue
            content = path.read_bytes()
            if path.suffix in (".yaml", ".yml"):
                try:
                    content, _ = config_bytes(content.decode(), FleetConfig(), self.include_secrets)
                except (ConfigError, UnicodeDecodeError):
                    notes.append(f"configs/{path.name} was left out: it is not a valid fleet file")
                    continue
            entries.append(Entry(f"home/configs/{path.name}", content))
        return entries

    # ----------------------------------------------------------------- the guide's steps

    async def backup_configs(self, configs: Mapping[str, Mapping[str, Any]]) -> BackupRecord:
        """Start a new backup holding the servers' configs (``manager.get_all_configs()``)."""
        content, redacted = redact_server_configs(configs, self.include_secrets)
        path, manifest = self._manifest(servers=(), redacted=tuple(redacted))
        record = await self._write(path, manifest, [Entry("fleet/servers.json", content)])
        self._open = path
        return record

    async def backup_server_data(self, server: str, data: ServerData) -> BackupRecord:
        """Add a server's data (``manager.export_server_data(server)``) to the backup the last
        :meth:`backup_configs` started (or to a new one); the archive is rewritten atomically."""
        check_server_name(server)
        prefix = f"home/data/{server}/"
        new = [Entry(prefix + name, content) for name, content in data.files.items()]
        if self._open is None or not self._open.exists():
            self._open, manifest = self._manifest(servers=(server,))
            return await self._write(self._open, manifest, new)
        old, members = await asyncio.to_thread(_collect, self._open, lambda _name: True)
        kept = [Entry(n, c) for n, c in members.items() if not n.startswith(prefix)]
        servers = (*(s for s in old.servers if s != server), server)
        return await self._write(self._open, replace(old, servers=servers), kept + new)

    # ----------------------------------------------------------------- restoring

    def restore(self, backup_id: BackupRef, home: str | Path) -> RestoreResult:
        """Restore a backup as a new fleet home (checked completely first); see :mod:`.restore`."""
        return restore_into(self.path_of(backup_id), Path(home))

    async def restore_configs(self, backup_id: BackupRef) -> dict[str, dict[str, Any]]:
        """The servers' configs in a backup, ready for ``manager.apply_config(server, config)``."""
        path = self.path_of(backup_id)
        _, members = await asyncio.to_thread(_collect, path, lambda n: n == "fleet/servers.json")
        if "fleet/servers.json" not in members:
            raise BackupError(f"backup {backup_id} holds no server configs (it was made without them)")
        configs: dict[str, dict[str, Any]] = json.loads(members["fleet/servers.json"])
        return configs

    async def restore_server_data(self, server: str, backup_id: BackupRef) -> ServerData:
        """A server's data from a backup, ready for ``manager.import_server_data(server, data)``."""
        prefix = f"home/data/{check_server_name(server)}/"
        path = self.path_of(backup_id)
        manifest, members = await asyncio.to_thread(_collect, path, lambda n: n.startswith(prefix))
        if server not in manifest.servers:
            held = ", ".join(manifest.servers) or "none"
            raise BackupError(f"backup {backup_id} holds no data of {server!r}; it has: {held}")
        return ServerData(server, {n.removeprefix(prefix): c for n, c in sorted(members.items())})


def _database(config: FleetConfig, home: FleetHome, tmp: Path, notes: list[str]) -> tuple[str, Entry] | None:
    """The fleet database as an archive entry: a SQLite snapshot, or a PostgreSQL dump."""
    url = config.database_url
    if url is not None and make_url(url).get_backend_name() == "postgresql":
        if find_pg_dump() is None:
            notes.append("the PostgreSQL fleet database was left out: pg_dump was not found")
            log.warning("backup: pg_dump not found; the PostgreSQL fleet database is not in the backup")
            return None
        pg_dump(url, tmp / "database.sql")
        return "postgresql", Entry("database.sql", tmp / "database.sql")
    source = home.database_file if url is None else Path(make_url(url).database or "").expanduser()
    if not source.is_file():
        return None  # no fleet database yet: nothing to keep
    if url is not None:
        notes.append(f"the SQLite fleet database {source} is restored as fleet.db; point database_url at it")
    copy_sqlite(source, tmp / "fleet.db")
    return "sqlite", Entry("home/fleet.db", tmp / "fleet.db")
