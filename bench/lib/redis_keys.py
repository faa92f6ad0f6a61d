"""Removing what a benchmark wrote to Redis."""

from __future__ import annotations

from redis.asyncio import Redis


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` in the Redis database at ``url``."""
    client = Redis.from_url(url)
    try:
        keys = [found async for found in client.scan_iter(match=prefix + "*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()
