"""Client sessions of the session protocol (2025-11-25 and older), kept in this process.

Idle sessions expire. The store is bounded three ways, so no client can take the memory or the
sessions of others: what one session may keep of its client (capabilities, client info) has a
byte budget; each caller (a principal, or a source address when callers are anonymous) may
hold ``max_per_owner`` sessions; and a full table refuses newcomers (with when to retry)
instead of evicting anyone's session.
"""

from __future__ import annotations

import json
import time
from collections import Counter, OrderedDict
from typing import Any

from mcpfleet.gateway.context import ClientState
from mcpfleet.gateway.jsonrpc import SUPPORTED_SESSION_VERSIONS
from mcpfleet.gateway.session_tokens import SessionCodec

__all__ = ["SessionLimitError", "SessionStore"]


class SessionLimitError(Exception):
    """A session the store will not open: ``status`` and ``retry_after`` (seconds, or None) for
    the HTTP answer, ``code`` for the JSON-RPC error."""

    def __init__(self, message: str, *, status: int, code: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


def owner_of(client: ClientState) -> str:
    """Whose session it is, for the per-caller cap: the principal, or where an anonymous one
    connects from (its address without the port)."""
    principal = client.principal
    if principal is not None and principal.method != "anonymous":
        return f"{principal.method}:{principal.name}"
    host = (client.address or "").rpartition(":")[0] or client.address or "?"
    return f"address:{host}"


class SessionStore:
    """``secret`` (``gateway.session_secret``, the same on every replica) makes session ids
    signed carriers of their session, so a replica can serve sessions another one opened."""

    def __init__(
        self,
        *,
        idle_timeout: float = 3600.0,
        max_sessions: int = 10_000,
        max_per_owner: int = 256,
        data_limit: int = 64 * 1024,
        secret: str | None = None,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.max_per_owner = max_per_owner
        self.data_limit = data_limit
        self.codec = SessionCodec(secret)
        self._sessions: OrderedDict[str, ClientState] = OrderedDict()
        self._owners: Counter[str] = Counter()

    def open(self, client: ClientState, params: dict[str, Any]) -> None:
        """Start ``client``'s session from its ``initialize`` params: with a shared secret its id
        carries the session (version, capabilities, client info, who opened it).

        Raises :class:`SessionLimitError` when its data is over budget, its caller holds as many
        sessions as it may, or the table is full.
        """
        asked = params.get("protocolVersion")
        kept = len(json.dumps([params.get("capabilities"), params.get("clientInfo")], default=str))
        if kept > self.data_limit:
            raise SessionLimitError(
                f"Invalid params: capabilities and clientInfo take {kept} bytes; a session keeps at "
                f"most {self.data_limit}",
                status=400,
                code=-32602,
            )
        self._expire()
        owner = owner_of(client)
        if self._owners[owner] >= self.max_per_owner:
            raise SessionLimitError(
                f"Too many sessions: this caller holds {self._owners[owner]}, the most one may; end one "
                "with DELETE (or let an idle one expire) and initialize again",
                status=429,
                code=-32029,
                retry_after=60,
            )
        if len(self._sessions) >= self.max_sessions:
            raise SessionLimitError(
                f"The gateway holds {len(self._sessions)} sessions, its most; try again later",
                status=503,
                code=-32000,
                retry_after=60,
            )
        principal = client.principal
        token = self.codec.mint(
            {
                "v": asked if asked in SUPPORTED_SESSION_VERSIONS else SUPPORTED_SESSION_VERSIONS[0],
                "c": params.get("capabilities") if isinstance(params.get("capabilities"), dict) else {},
                "i": params.get("clientInfo") if isinstance(params.get("clientInfo"), dict) else {},
                "p": [principal.name, principal.method] if principal is not None else None,
            }
        )
        if token is not None:
            client.id = token
        self.add(client)

    def find(self, session_id: str, principal: Any, address: str | None) -> ClientState | None:
        """The session with this id: this replica's own, or one another replica opened (rebuilt
        from a signed id, for the caller who opened it)."""
        client = self.get(session_id)
        if client is not None:
            return client
        state = self.codec.open(session_id)
        if state is None:
            return None
        opener = state.get("p")
        caller = [principal.name, principal.method] if principal is not None else None
        if opener != caller:
            return None
        client = ClientState(
            str(state.get("v")),
            id=session_id,
            client_info=dict(state.get("i") or {}),
            capabilities=dict(state.get("c") or {}),
            initialized=True,
            principal=principal,
            address=address,
        )
        self.add(client)
        return client

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, client: ClientState) -> None:
        """Keep a session (one opened here, rebuilt from a signed id, or the stdio front's)."""
        self._expire()
        if client.id not in self._sessions:
            self._owners[owner_of(client)] += 1
        self._sessions[client.id] = client

    def get(self, session_id: str) -> ClientState | None:
        client = self._sessions.get(session_id)
        if client is None:
            return None
        now = time.monotonic()
        if now - client.last_seen > self.idle_timeout:
            self.remove(session_id)
            return None
        client.last_seen = now
        self._sessions.move_to_end(session_id)
        return client

    def remove(self, session_id: str) -> ClientState | None:
        client = self._sessions.pop(session_id, None)
        if client is not None:
            owner = owner_of(client)
            self._owners[owner] -= 1
            if self._owners[owner] <= 0:
                del self._owners[owner]
            self._cancel(client)
        return client

    def all(self) -> list[ClientState]:
        return list(self._sessions.values())

    def _expire(self) -> None:
        now = time.monotonic()
        for session_id, client in list(self._sessions.items()):
            if now - client.last_seen <= self.idle_timeout:
                break  # ordered by last use: the rest are fresher
            self.remove(session_id)

    @staticmethod
    def _cancel(client: ClientState) -> None:
        client.closed = True
        for task in client.in_flight.values():
            task.cancel()
        if not client.notifications.full():
            client.notifications.put_nowait({})  # wakes its GET stream, which then ends

    def close_all(self) -> None:
        """End every session (shutdown): streams close instead of holding the server open."""
        for session_id in list(self._sessions):
            self.remove(session_id)
