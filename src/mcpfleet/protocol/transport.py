"""What a :class:`~mcpfleet.protocol.session.ClientSession` sends through: stdio or streamable HTTP."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Deliver", "Lost", "Transport"]

Lost = Callable[[BaseException | None], None]


class Deliver(Protocol):
    """Takes one message from the server; ``related`` is the id of our request it came about,
    where the wire says so (an HTTP POST's own event stream), else None."""

    def __call__(self, message: dict[str, Any], related: int | None = None) -> None: ...


class Transport(ABC):
    """Moves JSON-RPC messages (dicts) to a server and hands back what it sends.

    ``start(deliver, lost)`` begins reading: every message from the server goes to ``deliver``,
    and ``lost(reason)`` is called once when the connection ends.
    """

    @abstractmethod
    def start(self, deliver: Deliver, lost: Lost) -> None: ...

    @abstractmethod
    async def send(self, message: dict[str, Any]) -> None: ...

    expectation = "speaking MCP"  # what the server should do, for error messages
    answers_in_send = False  # True: send() returns once the answer came (HTTP: inside its POST)

    def set_protocol_version(self, version: str | None) -> None:  # noqa: B027 (an optional hook)
        """The protocol version in use, ``None`` before the handshake chose (HTTP sends a header)."""

    def describe_trouble(self) -> str:
        """Text for error messages: what went wrong on the wire (garbage seen, stderr tail)."""
        return ""

    @abstractmethod
    async def aclose(self) -> None: ...
