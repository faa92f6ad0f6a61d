"""``RegistryMirror``: a copy of an MCP registry in the fleet database, for offline use and serving.

    mirror = RegistryMirror.for_fleet(config)          # the fleet database, its catalog.allow/deny
    report = await sync_mirror(mirror, RegistryClient(config.registry_url))   # catalog/sync.py
    mirror.search(["weather"], limit=10)               # latest versions, best matches first
    mirror.get("io.github.acme/weather")               # the latest version, or None

Every version the registry lists is one row (``catalog_mirror``), its ``server.json`` and ``_meta``
kept as sent; ``catalog_mirror_state`` remembers where it came from and up to when (the
registry's own ``updatedAt``, so incremental syncs never depend on this machine's clock). Deleted
servers stay as rows with status ``deleted`` so that mirrors of this mirror learn of the deletion;
reads skip them. ``catalog.allow`` / ``catalog.deny`` apply on every read: changing them needs no
new sync. Search is one indexed scan of a lower-cased text column per word (LIKE), then a ranking
in Python of what matched: fast enough for tens of thousands of servers (see bench/catalog.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from mcpfleet.catalog.curation import Curation
from mcpfleet.catalog.registry import OFFICIAL_META
from mcpfleet.database import Database, metadata

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

__all__ = ["MirrorItem", "MirrorState", "RegistryMirror", "utc_stamp"]

servers_table = Table(
    "catalog_mirror",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("version", String(255), primary_key=True),
    Column("is_latest", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("published_at", String(32)),
    Column("updated_at", String(32), nullable=False),  # UTC, fixed width: compares as text
    Column("search_text", Text, nullable=False),  # lower-cased name, title, description, packages
    Column("server_json", Text, nullable=False),
    Column("meta_json", Text, nullable=False),
    Column("sync_id", Integer, nullable=False),  # the sync that last saw it (a full sync sweeps the rest)
    Index("ix_catalog_mirror_latest", "is_latest", "status", "name"),
    Index("ix_catalog_mirror_updated", "updated_at"),
)
state_table = Table(
    "catalog_mirror_state",
    metadata,
    Column("id", Integer, primary_key=True),  # one row: 1
    Column("source", Text, nullable=False),
    Column("synced_at", String(32), nullable=False),
    Column("full_sync_at", String(32), nullable=False),
    Column("watermark", String(32)),  # the newest upstream updatedAt seen
    Column("sync_id", Integer, nullable=False),
)


def utc_stamp(value: object) -> str | None:
    """An RFC 3339 time as fixed-width UTC text (``2026-01-02T03:04:05.000000Z``), None if unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class MirrorState:
    """Where the mirror came from, when it was last synced, and its newest upstream change."""

    source: str
    synced_at: str
    full_sync_at: str
    watermark: str | None
    sync_id: int


@dataclass(frozen=True)
class MirrorItem:
    """One version of one server, as the registry API shows it (:meth:`wire`)."""

    name: str
    version: str
    is_latest: bool
    status: str
    published_at: str | None
    updated_at: str
    server: dict[str, Any]
    meta: dict[str, Any]

    @classmethod
    def from_wire(cls, item: dict[str, Any], seen_at: str) -> MirrorItem | None:
        """An item of a registry answer (``{"server": ..., "_meta": ...}``); None if it has no
        name or version. ``seen_at`` stands in for a missing ``updatedAt``."""
        server = item.get("server", item)
        meta = item.get("_meta") if isinstance(item.get("_meta"), dict) else {}
        if not isinstance(server, dict) or not isinstance(meta, dict):
            return None
        name, version = server.get("name"), server.get("version")
        if not isinstance(name, str) or not name or not isinstance(version, str) or not version:
            return None
        official = meta.get(OFFICIAL_META)
        official = official if isinstance(official, dict) else {}
        return cls(
            name=name,
            version=version,
            is_latest=official.get("isLatest", True) is not False,
            status=str(official.get("status") or "active"),
            published_at=utc_stamp(official.get("publishedAt")),
            updated_at=utc_stamp(official.get("updatedAt"))
            or utc_stamp(official.get("publishedAt"))
            or seen_at,
            server=server,
            meta=meta,
        )

    def wire(self) -> dict[str, Any]:
        """The item as the registry API serves it; the official ``_meta`` block from the columns."""
        official = {
            **(self.meta.get(OFFICIAL_META) or {}),
            "status": self.status,
            "updatedAt": self.updated_at,
            "isLatest": self.is_latest,
        }
        if self.published_at:
            official["publishedAt"] = self.published_at
        return {"server": self.server, "_meta": {**self.meta, OFFICIAL_META: official}}

    def search_text(self) -> str:
        server = self.server
        words = [self.name, str(server.get("title") or ""), str(server.get("description") or "")]
        for package in server.get("packages") or []:
            if isinstance(package, dict):
                words.append(str(package.get("identifier") or ""))
        return " ".join(words).lower()


def _rank(name: str, words: Sequence[str]) -> int:
    """0: a word is the name or its last part; 1: the last part starts with one; 2: a word is in
    the name; 3: matched elsewhere (title, description, packages)."""
    lowered = name.lower()
    tail = lowered.rpartition("/")[2]
    if any(w in (lowered, tail) for w in words):
        return 0
    if any(tail.startswith(w) for w in words):
        return 1
    return 2 if any(w in lowered for w in words) else 3


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class RegistryMirror:
    """The mirrored registry in ``database`` (a :class:`Database`, or a function making one on first
    use), read through ``curation``."""

    def __init__(self, database: Database | Callable[[], Database], curation: Curation | None = None) -> None:
        self._database = database
        self.curation = curation or Curation()
        self._has_tables = False

    @classmethod
    def for_fleet(cls, config: FleetConfig) -> RegistryMirror:
        """The mirror in the fleet's database (opened when first used), curated by its catalog lists."""
        return cls(lambda: Database.for_fleet(config), Curation.of(config.catalog.allow, config.catalog.deny))

    @property
    def database(self) -> Database:
        if not isinstance(self._database, Database):
            self._database = self._database()
        return self._database

    def create_tables(self) -> None:
        # Through the migrations, the one way the fleet database's schema is made.
        self.database.create_tables()
        self._has_tables = True

    def _exists(self) -> bool:
        if not self._has_tables:
            file = self.database.url.database
            on_disk = self.database.dialect == "sqlite" and file not in (None, "", ":memory:")
            if on_disk and not Path(str(file)).expanduser().exists():
                return False  # never synced: asking would create an empty database file
            self._has_tables = inspect(self.database.engine).has_table(state_table.name)
        return self._has_tables

    # ------------------------------------------------------------------ state

    def state(self) -> MirrorState | None:
        """The last sync's state; None if the mirror was never synced."""
        if not self._exists():
            return None
        with self.database.engine.connect() as conn:
            row = conn.execute(select(state_table).where(state_table.c.id == 1)).mappings().first()
        if row is None:
            return None
        return MirrorState(
            row["source"], row["synced_at"], row["full_sync_at"], row["watermark"], row["sync_id"]
        )

    def save_state(self, state: MirrorState) -> None:
        values = {
            "source": state.source,
            "synced_at": state.synced_at,
            "full_sync_at": state.full_sync_at,
            "watermark": state.watermark,
            "sync_id": state.sync_id,
        }
        with self.database.engine.begin() as conn:
            if conn.execute(update(state_table).where(state_table.c.id == 1).values(**values)).rowcount == 0:
                conn.execute(state_table.insert().values(id=1, **values))

    # ------------------------------------------------------------------ writes

    def store(self, items: Iterable[MirrorItem], sync_id: int) -> int:
        """Insert or replace ``items``; a latest version makes the others of its server not latest."""
        rows = [
            {
                "name": i.name,
                "version": i.version,
                "is_latest": i.is_latest,
                "status": i.status,
                "published_at": i.published_at,
                "updated_at": i.updated_at,
                "search_text": i.search_text(),
                "server_json": json.dumps(i.server, separators=(",", ":")),
                "meta_json": json.dumps(i.meta, separators=(",", ":")),
                "sync_id": sync_id,
            }
            for i in items
        ]
        if not rows:
            return 0
        dialect = postgresql if self.database.dialect == "postgresql" else sqlite
        statement = dialect.insert(servers_table)
        keys = ("name", "version")
        statement = statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: statement.excluded[c] for c in rows[0] if c not in keys},
        )
        latest = [{"n": r["name"], "v": r["version"]} for r in rows if r["is_latest"]]
        with self.database.engine.begin() as conn:
            conn.execute(statement, rows)
            if latest:
                conn.execute(
                    update(servers_table)
                    .where(
                        and_(
                            servers_table.c.name == bindparam("n"), servers_table.c.version != bindparam("v")
                        )
                    )
                    .values(is_latest=False),
                    latest,
                )
        return len(rows)

    def sweep(self, sync_id: int) -> int:
        """Drop what a full sync (``sync_id``) did not see: gone from the registry."""
        with self.database.engine.begin() as conn:
            return conn.execute(delete(servers_table).where(servers_table.c.sync_id != sync_id)).rowcount

    # ------------------------------------------------------------------ reads

    def _visible(self, include_deleted: bool = False) -> ColumnElement[bool]:
        conditions = [self.curation.where(servers_table.c.name)]
        if not include_deleted:
            conditions.append(servers_table.c.status != "deleted")
        return and_(*conditions)

    def count(self) -> int:
        """Servers offered (latest versions, curated)."""
        if not self._exists():
            return 0
        query = select(func.count()).where(self._visible(), servers_table.c.is_latest)
        with self.database.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def search(self, words: Sequence[str], limit: int = 30) -> list[MirrorItem]:
        """Latest versions whose name, title, description or packages contain every word, best
        matches first (see :func:`_rank`), then by name."""
        if not self._exists() or limit <= 0:
            return []
        words = [w.lower() for w in words if w]
        c = servers_table.c
        query = select(*(col for col in c if col.name not in ("search_text", "sync_id")))
        query = query.where(self._visible(), c.is_latest)
        for word in words:
            query = query.where(c.search_text.like(f"%{_escape_like(word)}%", escape="\\"))
        with self.database.engine.connect() as conn:
            found = conn.execute(query).all()
        best = sorted(found, key=lambda r: (_rank(r.name, words), r.name))[:limit]
        return list(self._items(best))  # JSON parsed for the few shown only

    def get(self, name: str, version: str = "latest") -> MirrorItem | None:
        """One version of ``name`` (``latest``: the latest), None if not offered."""
        if not self._exists():
            return None
        c = servers_table.c
        which = c.is_latest if version == "latest" else c.version == version
        query = select(servers_table).where(self._visible(), c.name == name, which)
        with self.database.engine.connect() as conn:
            return next(iter(self._items(conn.execute(query))), None)

    def versions(self, name: str) -> list[MirrorItem]:
        """Every version of ``name``, newest published first."""
        if not self._exists():
            return []
        c = servers_table.c
        query = select(servers_table).where(self._visible(), c.name == name)
        query = query.order_by(c.published_at.desc(), c.version.desc())
        with self.database.engine.connect() as conn:
            return list(self._items(conn.execute(query)))

    def page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 30,
        search: str | None = None,
        version: str | None = None,
        updated_since: str | None = None,
        include_deleted: bool = False,
    ) -> tuple[list[MirrorItem], str | None]:
        """One page ordered by name and version, and the cursor of the next one (``name:version`` of
        this page's last item, as the official registry's), None on the last page. Deleted
        entries come only when asked, or with ``updated_since`` (so mirrors learn of deletions)."""
        if not self._exists():
            return [], None
        c = servers_table.c
        query = select(servers_table).where(self._visible(include_deleted or updated_since is not None))
        if cursor:
            name, _, after = cursor.partition(":")
            query = query.where(or_(c.name > name, and_(c.name == name, c.version > after)))
        if search:
            query = query.where(func.lower(c.name).like(f"%{_escape_like(search.lower())}%", escape="\\"))
        if version == "latest":
            query = query.where(c.is_latest)
        elif version:
            query = query.where(c.version == version)
        if updated_since:
            query = query.where(c.updated_at > updated_since)
        query = query.order_by(c.name, c.version).limit(limit + 1)
        with self.database.engine.connect() as conn:
            items = list(self._items(conn.execute(query)))
        if len(items) <= limit:
            return items, None
        items = items[:limit]
        return items, f"{items[-1].name}:{items[-1].version}"

    @staticmethod
    def _items(result: Iterable[Any]) -> Iterable[MirrorItem]:
        for row in result:
            yield MirrorItem(
                name=row.name,
                version=row.version,
                is_latest=bool(row.is_latest),
                status=row.status,
                published_at=row.published_at,
                updated_at=row.updated_at,
                server=json.loads(row.server_json),
                meta=json.loads(row.meta_json),
            )
