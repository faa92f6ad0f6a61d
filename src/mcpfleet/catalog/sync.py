"""``sync_mirror``: copy an MCP registry into a :class:`~mcpfleet.catalog.mirror.RegistryMirror`.

    report = await sync_mirror(mirror, RegistryClient("https://registry.modelcontextprotocol.io"))
    print(report.fetched, report.incremental, report.seconds)

The first sync, ``full=True``, or a new source pulls every page (``GET /v0.1/servers?limit=100``,
following ``metadata.nextCursor``) and then drops what the registry no longer lists. Later syncs
ask only for what changed after the newest ``updatedAt`` the mirror holds (``updated_since``). A
registry that refuses ``updated_since`` gets a full pull instead; one that ignores it (sends
older entries back) is noticed, and the pull counts as full. The mirror's state is written last:
a sync that fails half way leaves pages it stored, and the next sync asks again from the old mark.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from anyio import to_thread

from mcpfleet.catalog.mirror import MirrorItem, MirrorState, RegistryMirror, utc_stamp
from mcpfleet.catalog.registry import MAX_PAGE_SIZE, RegistryClient
from mcpfleet.exceptions import RegistryError

__all__ = ["SyncReport", "sync_mirror"]


@dataclass(frozen=True)
class SyncReport:
    """What one sync did: entries fetched and stored, pages, whether it was incremental, time."""

    source: str
    incremental: bool
    fetched: int
    stored: int
    removed: int
    pages: int
    offered: int  # servers the mirror offers now (latest versions, curated)
    seconds: float
    note: str = ""


async def sync_mirror(
    mirror: RegistryMirror, client: RegistryClient, *, full: bool = False, page_size: int = MAX_PAGE_SIZE
) -> SyncReport:
    """Bring ``mirror`` up to date with the registry ``client`` reads; see the module docstring."""
    started = time.perf_counter()
    await to_thread.run_sync(mirror.create_tables)
    state = await to_thread.run_sync(mirror.state)
    since = None
    if not full and state is not None and state.source == client.base_url and state.watermark:
        since = state.watermark
    sync_id = (state.sync_id if state is not None else 0) + 1
    now = utc_stamp(datetime.now(UTC)) or ""
    note = ""
    async with client.session():
        try:
            fetched, stored, pages, watermark, ignored = await _pull(
                mirror, client, sync_id, since, now, page_size
            )
        except RegistryError as exc:
            if since is None:
                raise
            note = f"asking only for changes failed ({str(exc).split('. ')[0]}); pulled everything"
            since = None
            fetched, stored, pages, watermark, ignored = await _pull(
                mirror, client, sync_id, None, now, page_size
            )
    if ignored:
        note = "the registry ignored updated_since (it sent older entries); pulled everything"
    incremental = since is not None and not ignored
    removed = 0 if incremental else await to_thread.run_sync(mirror.sweep, sync_id)
    if state is not None and state.source == client.base_url and state.watermark:
        watermark = max(filter(None, [watermark, state.watermark]))
    await to_thread.run_sync(
        mirror.save_state,
        MirrorState(
            source=client.base_url,
            synced_at=now,
            full_sync_at=state.full_sync_at if incremental and state is not None else now,
            watermark=watermark,
            sync_id=sync_id,
        ),
    )
    offered = await to_thread.run_sync(mirror.count)
    seconds = time.perf_counter() - started
    return SyncReport(client.base_url, incremental, fetched, stored, removed, pages, offered, seconds, note)


async def _pull(
    mirror: RegistryMirror, client: RegistryClient, sync_id: int, since: str | None, now: str, page_size: int
) -> tuple[int, int, int, str | None, bool]:
    """Every page from the registry into the mirror: (fetched, stored, pages, newest updatedAt,
    whether an ``updated_since`` was ignored)."""
    fetched = stored = pages = 0
    watermark: str | None = None
    ignored = False
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page = await client.list_items(cursor, page_size, since)
        pages += 1
        fetched += len(page.items)
        items = [i for i in (MirrorItem.from_wire(raw, now) for raw in page.items) if i is not None]
        for item in items:
            upstream = item.updated_at if item.updated_at != now else None
            if upstream is not None and (watermark is None or upstream > watermark):
                watermark = upstream
            if since is not None and upstream is not None and upstream <= since:
                ignored = True
        stored += await to_thread.run_sync(mirror.store, items, sync_id)
        cursor = page.next_cursor
        if cursor is None or cursor in seen or not page.items:
            return fetched, stored, pages, watermark, ignored
        seen.add(cursor)
