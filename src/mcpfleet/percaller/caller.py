"""Who a request is made for: the principal whose own instance of a per-caller server takes it.

The gateway sets it for every request it handles (the authenticated caller's name, or None for
an anonymous one); a program using :class:`~mcpfleet.manager.MCPManager` directly says it with
:func:`acting_for`::

    with acting_for("alice"):
        await manager.execute_tool("github", "list_repos", {})
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["acting_for", "current_caller"]

# the principal's name; None: nobody authenticated (looked up as "anonymous", as for headers)
current_caller: ContextVar[str | None] = ContextVar("mcpfleet_current_caller", default=None)


@contextlib.contextmanager
def acting_for(principal: str | None) -> Iterator[None]:
    """Requests made inside the block are made for ``principal``."""
    token = current_caller.set(principal)
    try:
        yield
    finally:
        current_caller.reset(token)
