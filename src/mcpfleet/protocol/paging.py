"""Paged MCP lists (``tools/list`` and the like), followed through ``nextCursor``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["MAX_PAGES", "all_pages"]

MAX_PAGES = 1000  # a server that pages forever is not followed forever


async def all_pages(
    fetch: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]], key: str, *, max_pages: int = MAX_PAGES
) -> list[dict[str, Any]]:
    """Every item under ``key`` of the pages ``fetch(params)`` returns, first page first."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page = await fetch({"cursor": cursor} if cursor else {})
        items += page.get(key) or []
        cursor = page.get("nextCursor")
        if not cursor:
            break
    return items
