"""The gateway's request pipeline: each concern on the request path is one middleware.

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        ...                                    # before: may refuse by raising, may change call.params
        result = await call_next(call)
        ...                                    # after: sees the result (or the exception)
        return result

``on_list`` sees list requests (``tools/list``...; a middleware may add to ``request.allows``
what the caller may see) and ``on_read`` the requests that read one server's things
(``resources/read``, ``prompts/get``, ``completion/complete``, subscriptions). A middleware
overrides only the hooks it needs; the others cost nothing.

:func:`build` composes them once, when the gateway is built, into a :class:`Pipeline` whose
last steps go to the fleet. Order is the order given (outermost first): authentication and
access control before rate limits, the cache before the upstream hop, audit and metrics
around everything they record.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from mcpfleet.gateway.context import ListRequest, ReadRequest, ToolCall

__all__ = ["CallNext", "ListNext", "Middleware", "Pipeline", "ReadNext", "ToolCall", "build", "chain"]


CallNext = Callable[[ToolCall], Awaitable[dict[str, Any]]]
ListNext = Callable[[ListRequest], Awaitable[dict[str, Any]]]
ReadNext = Callable[[ReadRequest], Awaitable[dict[str, Any]]]


class Middleware:
    """One concern on the request path. Subclasses override the hooks they need."""

    name = "middleware"

    async def on_call_tool(self, call: ToolCall, call_next: CallNext) -> dict[str, Any]:
        return await call_next(call)

    async def on_list(self, request: ListRequest, call_next: ListNext) -> dict[str, Any]:
        return await call_next(request)

    async def on_read(self, request: ReadRequest, call_next: ReadNext) -> dict[str, Any]:
        return await call_next(request)


@dataclass(frozen=True)
class Pipeline:
    """The composed request paths, outermost middleware first, the fleet last."""

    call_tool: CallNext
    list: ListNext
    read: ReadNext


def build(
    middlewares: Sequence[Middleware],
    *,
    call_tool: CallNext,
    list_items: ListNext,
    read: ReadNext,
    wrap: Callable[[Middleware, CallNext], CallNext] | None = None,
) -> Pipeline:
    """The pipeline of ``middlewares`` in front of the given last steps (nothing is changed)."""
    return Pipeline(
        chain(middlewares, call_tool, wrap),
        _compose(middlewares, "on_list", list_items),
        _compose(middlewares, "on_read", read),
    )


def chain(
    middlewares: Sequence[Middleware],
    last: CallNext,
    wrap: Callable[[Middleware, CallNext], CallNext] | None = None,
) -> CallNext:
    """``middlewares[0]`` outermost, ``last`` innermost. ``wrap`` may decorate each step (tracing)."""
    call_next = last
    for middleware in reversed(middlewares):
        call_next = _step(middleware, call_next)
        if wrap is not None:
            call_next = wrap(middleware, call_next)
    return call_next


def _step(middleware: Middleware, call_next: CallNext) -> CallNext:
    hook = middleware.on_call_tool
    if _takes_call_next(hook):  # the hook's own coroutine, with no wrapper coroutine per call
        return cast(CallNext, functools.partial(hook, call_next=call_next))

    async def step(call: ToolCall) -> dict[str, Any]:
        return await hook(call, call_next)

    return step


def _takes_call_next(hook: Any) -> bool:
    try:
        parameter = inspect.signature(hook).parameters.get("call_next")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def _compose(middlewares: Sequence[Middleware], hook_name: str, last: Any) -> Any:
    """The chain of one of the other hooks, leaving out the middlewares that do not override it."""
    call_next = last
    for middleware in reversed(middlewares):
        if getattr(type(middleware), hook_name) is getattr(Middleware, hook_name):
            continue
        hook = getattr(middleware, hook_name)
        call_next = (
            functools.partial(hook, call_next=call_next) if _takes_call_next(hook) else _bind(hook, call_next)
        )
    return call_next


def _bind(hook: Any, call_next: Any) -> Any:
    async def step(request: Any) -> dict[str, Any]:
        result: dict[str, Any] = await hook(request, call_next)
        return result

    return step
