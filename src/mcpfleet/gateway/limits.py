"""Slow and greedy clients: read timeouts and connection caps in uvicorn's HTTP protocol.

uvicorn closes idle keep-alive connections but waits forever for a request's headers or body,
and takes any number of connections from one address. :func:`limited_protocol` builds, per
server, a subclass of uvicorn's httptools protocol that adds (``gateway.connections``):

* a header deadline: from connecting, or from a request's first byte, to its last header;
* a body deadline: ``body_timeout`` after the last header, one second more for every
  ``body_min_rate`` bytes received (while the request is not answered yet), so a trickle is cut
  but a large upload on a slow link is not;
* caps on connections at once, per client IP and in total: one over is answered 429 or 503
  with ``Retry-After`` and closed.

It also writes each response's head together with the first part of its body (one send, not
two: on loopback the second send cost as much CPU as the rest of a small response's writing).

Each phase has at most one ``loop.call_later`` timer, armed only when a read ends with a request
still incomplete, so a request that arrives whole on a kept-alive connection touches no timer.
A timer that fires while reading is paused by the server (flow control, a pipelined request
waiting, ``Expect: 100-continue`` not answered yet) starts its phase over: that wait is ours.
On expiry the client gets 408 when nothing else is being answered, and the connection is closed.

The subclass leans on uvicorn internals; :func:`check_uvicorn` verifies them when a gateway is
built and fails with a clear error rather than serving unprotected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar, cast

import uvicorn

from mcpfleet.config import ConnectionsConfig
from mcpfleet.exceptions import FleetError

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
else:
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools: check_uvicorn() says so when a gateway is built
        HttpToolsProtocol = asyncio.Protocol

__all__ = ["ConnectionGate", "LimitedHttpToolsProtocol", "check_uvicorn", "limited_protocol"]

log = logging.getLogger("mcpfleet.gateway")

# What the connection waits for from the client: nothing (a request is in, or none is due),
# a request (connected, or bytes came that begin none yet), the rest of its headers, its body.
_IDLE, _WAITING, _HEADERS, _BODY = 0, 1, 2, 3
_LINGER = 1.0  # seconds a refused connection is kept half-closed, so the client reads the answer
_WARN_EVERY = 60.0  # seconds between warnings about refused connections

# What the subclass relies on: methods it extends, attributes uvicorn sets in __init__.
_PROTOCOL_METHODS = (
    "connection_made",
    "connection_lost",
    "data_received",
    "on_message_begin",
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "on_response_complete",
    "timeout_keep_alive_handler",
)
_PROTOCOL_ATTRIBUTES = (
    "loop",
    "transport",
    "flow",
    "client",
    "cycle",
    "pipeline",
    "timeout_keep_alive",
    "timeout_keep_alive_task",
)
_CYCLE_ATTRIBUTES = (
    "transport",
    "response_started",
    "response_complete",
    "disconnected",
    "message_event",
    "waiting_for_100_continue",
)
_FLOW_ATTRIBUTES = ("read_paused",)


def _response(status: bytes, text: bytes, *extra: bytes) -> bytes:
    return b"".join(
        [
            b"HTTP/1.1 " + status + b"\r\n",
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(text),
            *extra,
            b"connection: close\r\n\r\n",
            text,
        ]
    )


_TOO_MANY_FROM_YOU = _response(
    b"429 Too Many Requests", b"Too many connections from your address", b"retry-after: 1\r\n"
)
_TOO_MANY = _response(b"503 Service Unavailable", b"Too many connections", b"retry-after: 1\r\n")
_TIMEOUT = _response(b"408 Request Timeout", b"Request timed out")


def _names_set_in_init(cls: type) -> set[str]:
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    return set(code.co_names) if code is not None else set()


def check_uvicorn() -> None:
    """Fail (:class:`FleetError`) unless uvicorn's internals are those this module extends."""
    try:
        from uvicorn.protocols.http.flow_control import FlowControl
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
    except ImportError as exc:
        raise FleetError(
            f"The gateway needs uvicorn's httptools protocol for its read timeouts ({exc}); "
            "install httptools (it comes with uvicorn[standard])."
        ) from None
    missing = [f"HttpToolsProtocol.{m}()" for m in _PROTOCOL_METHODS if not hasattr(HttpToolsProtocol, m)]
    for cls, names in (
        (HttpToolsProtocol, _PROTOCOL_ATTRIBUTES),
        (RequestResponseCycle, _CYCLE_ATTRIBUTES),
        (FlowControl, _FLOW_ATTRIBUTES),
    ):
        found = _names_set_in_init(cls)
        missing += [f"{cls.__name__}.{name}" for name in names if name not in found]
    if missing:
        raise FleetError(
            f"uvicorn {uvicorn.__version__} lacks what the gateway's connection limits rely on "
            f"({', '.join(missing)}); install a uvicorn version the gateway supports (tested: 0.54)."
        )


def _file_limit() -> int | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


class ConnectionGate:
    """One server's open connections, per client address and in total."""

    __slots__ = ("_refused", "_warned_at", "by_address", "max_per_address", "max_total", "total")

    def __init__(self, limits: ConnectionsConfig) -> None:
        self.max_per_address = limits.max_per_address
        self.max_total = limits.max_total
        if self.max_total is None:
            files = _file_limit()
            self.max_total = max(64, files * 3 // 4) if files is not None else None
        self.by_address: dict[str, int] = {}
        self.total = 0
        self._refused = 0
        self._warned_at = -_WARN_EVERY

    def admit(self, address: str | None, now: float) -> bytes | None:
        """None if the connection may stay (it is counted), else the answer that refuses it."""
        if self.max_total is not None and self.total >= self.max_total:
            return self._refuse(_TOO_MANY, f"{self.max_total} connections are open", now)
        if address is not None:
            held = self.by_address.get(address, 0)
            if self.max_per_address is not None and held >= self.max_per_address:
                return self._refuse(_TOO_MANY_FROM_YOU, f"{address} holds {held} connections", now)
            self.by_address[address] = held + 1
        self.total += 1
        return None

    def release(self, address: str | None) -> None:
        self.total -= 1
        if address is not None:
            left = self.by_address[address] - 1
            if left:
                self.by_address[address] = left
            else:
                del self.by_address[address]

    def _refuse(self, answer: bytes, why: str, now: float) -> bytes:
        self._refused += 1
        if now - self._warned_at >= _WARN_EVERY:
            log.warning(
                "refusing connections (%s; %d refused since the last warning); see gateway.connections",
                why,
                self._refused,
            )
            self._warned_at, self._refused = now, 0
        return answer


class _Cork:
    """A connection's transport as its requests' cycles see it: a response's head is held until
    its body's first write and goes out with it in one send. A head with a content-length is
    held until then (or the response's end, for one with no body to write, as HEAD's); any
    other (a stream, whose first chunk may be long in coming) at most to the loop turn's end."""

    __slots__ = ("_held", "_loop", "armed", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self.armed = False  # the next write is a response's head

    def write(self, data: bytes) -> None:
        if self.armed:
            self.armed = False
            self._held = data
            if b"\r\ncontent-length:" not in data:  # (uvicorn writes header names in lower case)
                self._loop.call_soon(self.flush)  # a stream may wait before its first chunk
            return
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        self.transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and connection caps.

    Used through a subclass from :func:`limited_protocol`, which binds the class variables."""

    gate: ClassVar[ConnectionGate]
    header_timeout: ClassVar[float]
    body_timeout: ClassVar[float]
    body_min_rate: ClassVar[float]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _IDLE
        self._timer: asyncio.TimerHandle | None = None
        self._address: str | None = None
        self._counted = False
        self._refused = False
        self._body_started = 0.0
        self._body_bytes = 0
        self._cork: _Cork | None = None

    # Connections: counted per address, refused over a cap.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else None
        refusal = self.gate.admit(self._address, self.loop.time())
        if refusal is not None:
            self._refuse(refusal)
            return
        self._counted = True
        self._phase = _WAITING  # the first request's headers are due header_timeout from now
        self._timer = self.loop.call_later(self.header_timeout, self._expired)

    def _refuse(self, answer: bytes) -> None:
        self._refused = True
        transport = self.transport
        transport.write(answer)
        if transport.can_write_eof():  # FIN after the answer; what the client sends is dropped
            transport.write_eof()
            self._timer = self.loop.call_later(_LINGER, transport.close)
        else:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._counted:
            self._counted = False
            self.gate.release(self._address)
        super().connection_lost(exc)

    # Reading: the phase's deadline is armed only when a read leaves a request incomplete.

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._phase == _IDLE and (self.cycle is None or self.cycle.response_complete):
            self._phase = _WAITING  # a new request's first bytes (or blank lines before one)
        super().data_received(data)
        if self._phase != _IDLE and self._timer is None and not self.transport.is_closing():
            self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _HEADERS

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # (not an upgrade)
            cork = self._cork
            if cork is None:
                cork = self._cork = _Cork(self.transport, self.loop)
            cork.armed = True
            cycle.transport = cast(asyncio.Transport, cork)  # it writes and closes through the cork
        self._cancel()
        self._phase = _BODY
        self._body_bytes = 0

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._body_bytes += len(body)

    def on_response_complete(self) -> None:
        if self._cork is not None:
            self._cork.flush()  # a head whose response wrote no body (HEAD, an empty reply)
        super().on_response_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._cancel()
        self._phase = _IDLE
        if (
            self.cycle.response_complete  # answered before its body was in: idle from now on
            and self.timeout_keep_alive_task is None
            and not self.pipeline
            and not self.transport.is_closing()
        ):
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    # Deadlines.

    def _arm(self) -> None:
        if self._phase != _BODY:
            self._timer = self.loop.call_later(self.header_timeout, self._expired)
        else:
            self._body_started, self._body_bytes = self.loop.time(), 0
            self._timer = self.loop.call_later(self.body_timeout, self._expired)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self._phase == _IDLE:
            return
        cycle = self.cycle
        body = self._phase == _BODY
        if self.flow.read_paused or (body and cycle.waiting_for_100_continue):
            self._arm()  # we are not reading, so the client cannot be late: start over
            return
        if body and not cycle.response_complete:  # once answered, the rest of a body earns no time
            deadline = self._body_started + self.body_timeout + self._body_bytes / self.body_min_rate
            if self.loop.time() < deadline:
                self._timer = self.loop.call_at(deadline, self._expired)
                return
        waited_for = ("a request", "its headers", "its body")[self._phase - _WAITING]
        log.debug("closing a connection from %s: %s took too long", self._address, waited_for)
        if body:
            answer = not self.pipeline and not cycle.response_started
            cycle.disconnected = True  # the app's receive() says so; its send() is dropped
            cycle.message_event.set()
        else:  # 408 to a request begun, not to a connection that sent nothing yet
            answer = self._phase == _HEADERS and not self.pipeline
            answer = answer and (cycle is None or cycle.response_complete)
        if answer:
            self.transport.write(_TIMEOUT)
        self.transport.close()


def limited_protocol(limits: ConnectionsConfig) -> tuple[type[LimitedHttpToolsProtocol], ConnectionGate]:
    """An HTTP protocol class for ``uvicorn.Config(http=...)`` that enforces ``limits``, and the
    gate counting its connections; call it once per server (each counts its own connections)."""
    check_uvicorn()

    class Protocol(LimitedHttpToolsProtocol):
        pass

    Protocol.gate = ConnectionGate(limits)
    Protocol.header_timeout = limits.header_timeout
    Protocol.body_timeout = limits.body_timeout
    Protocol.body_min_rate = float(limits.body_min_rate)
    return Protocol, Protocol.gate
