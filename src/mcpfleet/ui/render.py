"""Server-rendered pages: Jinja2 templates shipped in the package, autoescaped.

html = Pages().render(request, visitor, "overview.html", title="Fleet", servers=[...])
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

if TYPE_CHECKING:
    from mcpfleet.ui.guard import Visitor

__all__ = ["NAV", "Pages", "duration", "when"]

NAV = (
    ("overview", "/ui", "Fleet"),
    ("playground", "/ui/playground", "Playground"),
    ("audit", "/ui/audit", "Audit"),
    ("approvals", "/ui/approvals", "Approvals"),
    ("keys", "/ui/keys", "API keys"),
    ("catalog", "/ui/catalog", "Catalog"),
)


def duration(seconds: float | None) -> str:
    """``42s``, ``5m 3s``, ``2h 10m``, ``3d 4h``: uptimes and ages."""
    if seconds is None:
        return "—"
    s = int(seconds)
    for unit, size, sub, subsize in (("d", 86400, "h", 3600), ("h", 3600, "m", 60), ("m", 60, "s", 1)):
        if s >= size:
            return f"{s // size}{unit} {s % size // subsize}{sub}"
    return f"{s}s"


def when(moment: datetime | None) -> str:
    """A UTC time, to the second."""
    if moment is None:
        return "—"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


class Pages:
    """The dashboard's templates; ``render`` adds what every page shows (nav, who, CSRF token)."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=PackageLoader("mcpfleet.ui", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(duration=duration, when=when, pretty=pretty)

    def render(
        self, request: Request, visitor: Visitor | None, template: str, *, status: int = 200, **values: Any
    ) -> HTMLResponse:
        page = self.env.get_template(template).render(
            request=request,
            visitor=visitor,
            nav=NAV,
            csrf=visitor.session.csrf if visitor is not None else "",
            notice=request.query_params.get("notice"),
            problem=request.query_params.get("problem"),
            **values,
        )
        return HTMLResponse(page, status_code=status)
