"""API keys: created once, stored as a SHA-256 hash in the fleet database, verified in microseconds.

A key reads ``mcpf_<id>_<secret>``: ``mcpf_`` makes it recognisable (secret scanners, logs),
``<id>`` (8 hex digits) finds its row without a scan, ``<secret>`` is 256 random bits. Only
``sha256(key)`` is stored, so a leaked database reveals no usable key; the hash is compared in
constant time.

Verified keys are cached in memory for ``cache_ttl`` seconds (default 30): within that time a
key is checked without touching the database, so **a revocation takes effect within cache_ttl
seconds** in every other process (at once in the process that revoked). ``last_used`` is
written when the cache is refilled, so it is accurate to ``cache_ttl`` as well.

    store = ApiKeyStore(Database.for_fleet(config))
    key, info = store.create("ci-bot", "developer", expires_in=timedelta(days=30))
    principal = store.verify(key)          # Principal("ci-bot", ("developer",), "api_key")
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Column, DateTime, RowMapping, String, Table, or_, select, update

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.database import Database, metadata
from mcpfleet.exceptions import AuthenticationError, FleetError, UnknownApiKeyError
from mcpfleet.security.permissions import ROLE_NAME
from mcpfleet.security.principal import Principal

__all__ = ["KEY_PREFIX", "ApiKeyInfo", "ApiKeyStore", "api_keys"]

KEY_PREFIX = "mcpf_"
_KEY = re.compile(r"mcpf_(?P<id>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{40,})")
_KEY_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(64), nullable=False, index=True),
    Column("role", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyInfo:
    """One key as listed: everything but the key itself."""

    id: str
    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def prefix(self) -> str:
        """The start of the key, enough to recognise it (``mcpf_1a2b3c4d``)."""
        return f"{KEY_PREFIX}{self.id}"

    def state(self, now: datetime) -> Literal["active", "expired", "revoked"]:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True)
class _Cached:
    digest: str | None  # None: no key has this id
    info: ApiKeyInfo | None
    at: float


class ApiKeyStore:
    """Create, list, revoke and verify API keys in the fleet database (table ``api_keys``).

    ``clock`` times the cache (monotonic); ``now`` is the wall clock for expiry. Tests replace both.
    """

    def __init__(
        self,
        database: Database,
        *,
        cache_ttl: float = 30.0,
        max_cached: int = 10_000,
        clock: Clock | None = None,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.database = database
        self.cache_ttl = cache_ttl
        self.max_cached = max_cached
        self._clock = clock or MonotonicClock()
        self._now = now
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()
        self._table_ready = False

    def _ready(self) -> None:
        if not self._table_ready:
            self.database.create_tables()  # the migrations: api_keys is in revision 0001
            self._table_ready = True

    def create(self, name: str, role: str, *, expires_in: timedelta | None = None) -> tuple[str, ApiKeyInfo]:
        """A new key for ``name`` with ``role``. The key is returned here only: show it once."""
        if not re.fullmatch(_KEY_NAME, name):
            raise FleetError(f"{name!r} is not a valid key name: use letters, digits, '.', '_' or '-'")
        if not re.fullmatch(ROLE_NAME, role):
            raise FleetError(f"{role!r} is not a valid role name: use letters, digits, '.', '_', ':' or '-'")
        if expires_in is not None and expires_in <= timedelta(0):
            raise FleetError("a key's lifetime must be positive, e.g. --expires 30d")
        self._ready()
        now = self._now()
        for active in self.list_keys():
            if active.name == name and active.state(now) == "active":
                raise FleetError(
                    f"an active key named {name!r} exists ({active.prefix}); "
                    f"revoke it first (`mcpfleet keys revoke {name}`) or choose another name"
                )
        key_id = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        info = ApiKeyInfo(key_id, name, role, now, now + expires_in if expires_in else None)
        with self.database.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    id=key_id, name=name, role=role, key_hash=_digest(key),
                    created_at=now, expires_at=info.expires_at,
                )
            )  # fmt: skip
        return key, info

    def list_keys(self) -> list[ApiKeyInfo]:
        """Every key, revoked and expired ones included, oldest first."""
        self._ready()
        with self.database.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)).all()
        return [self._info(row._mapping) for row in rows]

    def revoke(self, name_or_id: str) -> list[ApiKeyInfo]:
        """Revoke the active keys with this name, or the key with this id (``mcpf_`` prefix allowed)."""
        self._ready()
        ident = name_or_id.removeprefix(KEY_PREFIX)
        now = self._now()
        where = or_(api_keys.c.id == ident, api_keys.c.name == name_or_id) & api_keys.c.revoked_at.is_(None)
        with self.database.engine.begin() as conn:
            rows = conn.execute(select(api_keys).where(where)).all()
            if not rows:
                raise UnknownApiKeyError(name_or_id)
            conn.execute(update(api_keys).where(where).values(revoked_at=now))
        revoked = [self._info({**row._mapping, "revoked_at": now}) for row in rows]
        with self._lock:
            for info in revoked:
                self._cache.pop(info.id, None)
        return revoked

    def verify(self, key: str) -> Principal:
        """The key's :class:`Principal`, or :class:`AuthenticationError` saying why not."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise AuthenticationError(f"this is not an mcpfleet API key (they start with {KEY_PREFIX})")
        key_id = match.group("id")
        cached = self._cached(key_id)
        fresh = cached is None
        if cached is None:
            cached = self._load(key_id)
        if (
            cached.digest is None
            or cached.info is None
            or not hmac.compare_digest(cached.digest, _digest(key))
        ):
            raise AuthenticationError("unknown API key; check it, or create one with `mcpfleet keys create`")
        info = cached.info
        state = info.state(self._now())
        if state != "active":
            when = info.revoked_at if state == "revoked" else info.expires_at
            raise AuthenticationError(
                f"API key {info.name!r} ({info.prefix}) {state} at {when:%Y-%m-%d %H:%M} UTC; "
                f"create a new one with `mcpfleet keys create --name {info.name} --role {info.role}`"
            )
        if fresh:
            with self.database.engine.begin() as conn:
                conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=self._now()))
        return Principal(info.name, (info.role,), "api_key", key_id=info.id, expires_at=info.expires_at)

    async def averify(self, key: str) -> Principal:
        """:meth:`verify` for the event loop: a cached key costs no thread, a miss reads in one."""
        match = _KEY.fullmatch(key)
        if match is not None and self._cached(match.group("id")) is None:
            return await asyncio.to_thread(self.verify, key)
        return self.verify(key)

    def _cached(self, key_id: str) -> _Cached | None:
        with self._lock:
            entry = self._cache.get(key_id)
            if entry is None or self._clock.monotonic() - entry.at >= self.cache_ttl:
                return None
            return entry

    def _load(self, key_id: str) -> _Cached:
        self._ready()
        with self.database.engine.connect() as conn:
            row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        # Unknown ids are cached too, so guessing ids cannot turn into one query per request.
        entry = _Cached(
            row.key_hash if row is not None else None,
            self._info(row._mapping) if row is not None else None,
            self._clock.monotonic(),
        )
        with self._lock:
            self._cache[key_id] = entry
            self._cache.move_to_end(key_id)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)
        return entry

    @staticmethod
    def _info(row: RowMapping | Mapping[str, Any]) -> ApiKeyInfo:
        return ApiKeyInfo(
            id=row["id"], name=row["name"], role=row["role"], created_at=_utc(row["created_at"]),
            expires_at=_utc_or_none(row["expires_at"]), last_used_at=_utc_or_none(row["last_used_at"]),
            revoked_at=_utc_or_none(row["revoked_at"]),
        )  # fmt: skip
