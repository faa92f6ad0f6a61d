"""``MemoryCache``: entries in this process, a dict look-up and an O(1) or O(log n) bookkeeping step."""

from __future__ import annotations

import heapq
from collections import OrderedDict
from typing import Any

from mcpfleet.cache.base import BaseCache, CacheStrategy, key_group, validate_ttl
from mcpfleet.clock import Clock

__all__ = ["MemoryCache"]

_PURGE_STEPS = 8  # expired entries dropped per write: more than a write adds, and no pause


class _Entry:
    __slots__ = ("expires", "freq", "group", "seq", "value")

    def __init__(self, value: Any, expires: float, seq: int, group: tuple[str, str]) -> None:
        self.value = value
        self.expires = expires
        self.seq = seq  # which item of the expiry heap is this entry's current one
        self.group = group  # (server, tool), for invalidation
        self.freq = 0  # hits, for LFU


class _Recency:
    """LRU (a read moves the entry to the back) and FIFO (only a write does)."""

    def __init__(self, on_read: bool) -> None:
        self.queue: OrderedDict[str, None] = OrderedDict()  # front: next to go
        self.on_read = on_read

    def add(self, key: str, entry: _Entry) -> None:
        self.queue[key] = None

    def read(self, key: str, entry: _Entry) -> None:
        if self.on_read:
            self.queue.move_to_end(key)

    def rewrite(self, key: str, entry: _Entry) -> None:
        self.queue.move_to_end(key)

    def remove(self, key: str, entry: _Entry) -> None:
        del self.queue[key]

    def victim(self) -> str:
        return next(iter(self.queue))


class _Frequency:
    """LFU in O(1): one queue of keys per hit count; the least recently used of the lowest goes."""

    def __init__(self) -> None:
        self.queues: dict[int, OrderedDict[str, None]] = {}
        self.lowest = 0  # may point at an emptied count after a removal; victim() then looks again

    def add(self, key: str, entry: _Entry) -> None:
        entry.freq = 0
        self.queues.setdefault(0, OrderedDict())[key] = None
        self.lowest = 0

    def read(self, key: str, entry: _Entry) -> None:
        self.remove(key, entry)
        if self.lowest == entry.freq and entry.freq not in self.queues:
            self.lowest += 1
        entry.freq += 1
        self.queues.setdefault(entry.freq, OrderedDict())[key] = None

    def rewrite(self, key: str, entry: _Entry) -> None:
        self.queues[entry.freq].move_to_end(key)  # a new value keeps its hits

    def remove(self, key: str, entry: _Entry) -> None:
        queue = self.queues[entry.freq]
        del queue[key]
        if not queue:
            del self.queues[entry.freq]

    def victim(self) -> str:
        if self.lowest not in self.queues:
            self.lowest = min(self.queues)  # only after invalidations: O(distinct hit counts)
        return next(iter(self.queues[self.lowest]))


class _Expiry:
    """TTL: the entry closest to expiry goes; the cache's expiry heap already knows which."""

    def __init__(self, cache: MemoryCache) -> None:
        self.cache = cache

    def add(self, key: str, entry: _Entry) -> None:
        return None

    read = rewrite = remove = add

    def victim(self) -> str:
        return self.cache.soonest()


class MemoryCache(BaseCache):
    """Entries in this process: each gateway replica caches on its own.

        cache = MemoryCache(strategy=CacheStrategy.LFU, max_size=1000, ttl=60)
        await cache.set(key("time", "now", {}), {"content": []})

    Every strategy costs O(1) per operation (TTL: O(log n) per write). Expired entries are
    dropped when read, and a few per write from a heap ordered by expiry, so ``size`` stays
    close to the live entries. Values are kept as given and the same object answers every
    hit: treat what :meth:`get` returns as read-only. No lock is needed: no method awaits.
    """

    def __init__(
        self,
        *,
        strategy: CacheStrategy | str = CacheStrategy.LRU,
        max_size: int = 10_000,
        ttl: float = 3600,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(strategy=strategy, max_size=max_size, ttl=ttl, clock=clock)
        self._entries: dict[str, _Entry] = {}
        self._expiry: list[tuple[float, int, str]] = []  # heap; stale items are skipped
        self._groups: dict[tuple[str, str], set[str]] = {}
        self._seq = 0
        self._order = self._new_order()

    @property
    def size(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is not None:
            if entry.expires > self.clock.monotonic():
                self.hits += 1
                self._order.read(key, entry)
                return entry.value
            self._drop(key, entry)
        self.misses += 1
        return None

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if value is None:
            raise ValueError("None cannot be cached: a miss already answers None")
        now = self.clock.monotonic()
        expires = now + (self.ttl if ttl is None else validate_ttl(ttl))
        self._seq += 1
        entry = self._entries.get(key)
        if entry is not None:
            entry.value, entry.expires, entry.seq = value, expires, self._seq
            self._order.rewrite(key, entry)
        else:
            self._purge(now)
            while len(self._entries) >= self.max_size:
                self._evict(now)
            entry = self._entries[key] = _Entry(value, expires, self._seq, key_group(key))
            self._groups.setdefault(entry.group, set()).add(key)
            self._order.add(key, entry)
        heapq.heappush(self._expiry, (expires, self._seq, key))
        if len(self._expiry) > 2 * len(self._entries) + 64:
            self._compact()

    async def invalidate(self, server: str | None = None, tool: str | None = None) -> int:
        if server is not None and tool is not None:
            groups = [(server, tool)] if (server, tool) in self._groups else []
        else:
            groups = [g for g in self._groups if server in (None, g[0]) and tool in (None, g[1])]
        dropped = 0
        for group in groups:
            for key in list(self._groups[group]):
                self._drop(key, self._entries[key])
                dropped += 1
        return dropped

    async def clear(self) -> None:
        self._entries.clear()
        self._expiry.clear()
        self._groups.clear()
        self._order = self._new_order()

    def soonest(self) -> str:
        """The key of the live entry that expires first (the TTL strategy's victim)."""
        heap, entries = self._expiry, self._entries
        while True:
            _, seq, key = heap[0]
            entry = entries.get(key)
            if entry is not None and entry.seq == seq:
                return key
            heapq.heappop(heap)  # stale: rewritten or dropped since

    def _new_order(self) -> _Recency | _Frequency | _Expiry:
        if self.strategy is CacheStrategy.LFU:
            return _Frequency()
        if self.strategy is CacheStrategy.TTL:
            return _Expiry(self)
        return _Recency(on_read=self.strategy is CacheStrategy.LRU)

    def _evict(self, now: float) -> None:
        key = self._order.victim()
        entry = self._entries[key]
        if entry.expires > now:
            self.evictions += 1
        self._drop(key, entry)

    def _drop(self, key: str, entry: _Entry) -> None:
        del self._entries[key]
        keys = self._groups[entry.group]
        keys.discard(key)
        if not keys:
            del self._groups[entry.group]
        self._order.remove(key, entry)

    def _purge(self, now: float) -> None:
        heap, entries = self._expiry, self._entries
        for _ in range(_PURGE_STEPS):
            if not heap or heap[0][0] > now:
                return
            _, seq, key = heapq.heappop(heap)
            entry = entries.get(key)
            if entry is not None and entry.seq == seq:
                self._drop(key, entry)

    def _compact(self) -> None:
        self._expiry = [(e.expires, e.seq, k) for k, e in self._entries.items()]
        heapq.heapify(self._expiry)
