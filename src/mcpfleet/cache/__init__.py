"""Tool results kept for a while, so a repeated call is answered without the server.

In process by default; in Redis when configured, so every gateway replica shares entries,
their bound and their invalidations. Nothing is cached unless ``servers`` says so. In
``mcpfleet.yaml``::

    cache:
      backend: redis                    # memory (default): each replica alone; redis: shared
      redis_url: redis://127.0.0.1:6379/0
      key_prefix: "mcpfleet:cache:"
      strategy: lru                     # lru | lfu | fifo | ttl: which entry goes when full
      max_size: 10000                   # entries; in Redis for all replicas together
      ttl: 3600                         # default seconds an entry lives
      servers:
        github:
          tools:                        # glob -> ttl seconds; first match wins
            "get_secret_*": null        # null: never cached, even if read-only
            "list_*": 300
            search_code: 60
          read_only: true               # also cache tools annotated readOnlyHint: true,
          read_only_ttl: 120            # for this long (default: ttl)
          shared: ["list_*"]            # the same for every caller: one entry for all;
        "*":                            # other tools get one entry per principal.
          read_only: true               # "*": every server not named

``enabled: false`` turns it off; ``redis_timeout`` (0.25 s) and ``probe_interval`` (2 s) set
how quickly an outage is noticed and how often Redis is tried again; meanwhile calls go
uncached. In the gateway, for each ``tools/call``::

    ttl, shared = config.cache.policy_for(server, tool, tool_annotations)
    if ttl is not None:
        entry = key(server, tool, arguments, scope=None if shared else principal_name)
        result = await cache.get(entry)                     # None: a miss
        if result is None:
            result = await call_next(call)
            if not result.get("isError"):
                await cache.set(entry, result, ttl)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpfleet.exports import lazy_exports

if TYPE_CHECKING:
    from mcpfleet.cache.base import BaseCache, CacheStats, CacheStrategy, key
    from mcpfleet.cache.config import CacheConfig, ServerCachePolicy, ToolPolicy
    from mcpfleet.cache.facade import MCPCache
    from mcpfleet.cache.memory import MemoryCache

# RedisCache lives in mcpfleet.cache.redis and is not imported here: redis-py takes about
# 0.35 s to import, and every CLI command loads the fleet config, which imports this package.
__all__ = [
    "BaseCache",
    "CacheConfig",
    "CacheStats",
    "CacheStrategy",
    "MCPCache",
    "MemoryCache",
    "ServerCachePolicy",
    "ToolPolicy",
    "key",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "mcpfleet.cache.base": ["BaseCache", "CacheStats", "CacheStrategy", "key"],
        "mcpfleet.cache.config": ["CacheConfig", "ServerCachePolicy", "ToolPolicy"],
        "mcpfleet.cache.facade": ["MCPCache"],
        "mcpfleet.cache.memory": ["MemoryCache"],
    },
)
