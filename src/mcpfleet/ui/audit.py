"""``/ui/audit``: the audit log, filtered and paginated, with the hash chains' verification state.

Records are shown as stored: arguments were masked when they were recorded. Verification reads
the whole store, so its result is kept for ``VERIFY_EVERY`` seconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mcpfleet.audit.checkpoint import load_key
from mcpfleet.exceptions import FleetError
from mcpfleet.ui.guard import Visitor
from mcpfleet.ui.kit import Kit

__all__ = ["routes"]

PAGE_SIZE = 50
VERIFY_EVERY = 15.0
OUTCOMES = ("success", "tool_error", "error", "denied", "rate_limited", "cancelled")
FILTERS = ("server", "tool", "user", "outcome", "since", "until")


def _moment(text: str | None) -> datetime | None:
    """A ``datetime-local`` input's value (read as UTC), or None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def routes(kit: Kit) -> list[Route]:
    context = kit.context
    verified: dict[str, Any] = {"at": 0.0, "text": None, "ok": None}

    def verify_now() -> tuple[bool, str]:
        assert context.audit is not None  # only called when auditing is on
        try:
            key = load_key(context.manager.config, context.manager.environ)
            result = context.audit.verify(key)
        except FleetError as exc:
            return False, f"Cannot verify: {exc}"
        return result.ok, result.describe()

    async def verification() -> tuple[bool | None, str | None]:
        if context.audit is None:
            return None, None
        if time.monotonic() - verified["at"] > VERIFY_EVERY:
            verified["ok"], verified["text"] = await asyncio.to_thread(verify_now)
            verified["at"] = time.monotonic()
        return verified["ok"], verified["text"]

    async def audit(request: Request, visitor: Visitor) -> Response:
        query = request.query_params
        filters = {name: query.get(name, "").strip() for name in FILTERS}
        page = int(query["page"]) if query.get("page", "").isdigit() and int(query["page"]) > 0 else 1
        records: list[Any] = []
        problem = None
        more = False
        if context.audit is not None:
            try:
                found = await asyncio.to_thread(
                    context.audit.query,
                    server=filters["server"] or None,
                    tool=filters["tool"] or None,
                    user=filters["user"] or None,
                    outcome=filters["outcome"] or None,
                    start_time=_moment(filters["since"]),
                    end_time=_moment(filters["until"]),
                    limit=page * PAGE_SIZE + 1,
                )
            except FleetError as exc:
                found, problem = [], f"Cannot read the audit log: {exc}"
            records = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            more = len(found) > page * PAGE_SIZE
        ok, text = await verification()
        kept = {k: v for k, v in filters.items() if v}

        def link(to: int) -> str:
            return "/ui/audit?" + urlencode({**kept, "page": to})

        return kit.pages.render(
            request, visitor, "audit.html", title="Audit", page="audit", records=records,
            filters=filters, outcomes=OUTCOMES, servers=context.manager.list_servers(),
            enabled=context.audit is not None, verified_ok=ok, verified_text=text, load_problem=problem,
            page_number=page, previous=link(page - 1) if page > 1 else None,
            next_page=link(page + 1) if more else None,
        )  # fmt: skip

    return [Route("/ui/audit", kit.guard.wrap(audit))]
