"""``@audit.log_operation``: record each call of a function, sync or async, with its outcome."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from mcpfleet.exceptions import AuditError

__all__ = ["CONTEXT_ARGUMENTS", "Recorder", "audited"]

log = logging.getLogger("mcpfleet.audit")
F = TypeVar("F", bound=Callable[..., Any])
CONTEXT_ARGUMENTS = ("server", "tool", "user", "role", "client", "request_id")


class Recorder(Protocol):
    """What :func:`audited` records calls with: an :class:`~mcpfleet.audit.AuditLogger`."""

    def record(
        self,
        *,
        server: str | None = None,
        tool: str | None = None,
        params: Any = None,
        outcome: str = "success",
        error: str | None = None,
        latency_ms: float | None = None,
        user: str | None = None,
        role: str | None = None,
        client: str | None = None,
        request_id: str | None = None,
    ) -> object: ...


class _Call:
    """What one call tells the audit: context fields from arguments so named, the rest as params."""

    def __init__(
        self, signature: inspect.Signature, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ):
        self.context: dict[str, Any] = {"tool": name}
        self.params: dict[str, Any] = {}
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:  # the call itself will fail the same way; record what was passed
            self.params = {"args": list(args), "kwargs": kwargs}
            return
        for arg, value in bound.arguments.items():
            kind = signature.parameters[arg].kind
            if arg in ("self", "cls") and kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
                continue
            if arg in CONTEXT_ARGUMENTS and (value is None or isinstance(value, str)):
                self.context[arg] = value
            elif kind is inspect.Parameter.VAR_KEYWORD:
                self.params.update(value)
            else:
                self.params[arg] = value


def _outcome(exc: BaseException | None) -> str:
    if exc is None:
        return "success"
    return "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"


def audited(audit: Recorder, func: F) -> F:
    """``func`` wrapped so that every call is recorded by ``audit``; see :meth:`AuditLogger.log_operation`."""
    if not callable(func):
        raise AuditError(f"@log_operation decorates functions, not {type(func).__name__}")
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise AuditError(
            f"@log_operation cannot audit generator {func.__qualname__}: its work happens after it returns; "
            "decorate the function that consumes it"
        )
    signature = inspect.signature(func)
    name = getattr(func, "__name__", type(func).__name__)

    def record(call: _Call, started: float, exc: BaseException | None) -> None:
        try:
            audit.record(
                **call.context,
                params=call.params,
                outcome=_outcome(exc),
                error=None if exc is None else f"{type(exc).__name__}: {exc}",
                latency_ms=(time.perf_counter() - started) * 1000,
            )
        except Exception:  # auditing must never change what the audited call does
            log.exception("audit: could not record a call of %s", name)

    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            call, started = _Call(signature, name, args, kwargs), time.perf_counter()
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                record(call, started, exc)
                raise
            record(call, started, None)
            return result

        return cast(F, async_wrapper)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call, started = _Call(signature, name, args, kwargs), time.perf_counter()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            record(call, started, exc)
            raise
        record(call, started, None)
        return result

    return cast(F, wrapper)
