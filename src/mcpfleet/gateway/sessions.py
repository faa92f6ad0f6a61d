"""Client sessions of the session protocol (2025-11-25 and older), kept in this process.

Idle sessions expire; the store is bounded so a client that never deletes its sessions cannot
grow it without limit (the oldest idle one goes first).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from mcpfleet.gateway.engine import ClientState

__all__ = ["SessionStore"]


class SessionStore:
    def __init__(self, *, idle_timeout: float = 3600.0, max_sessions: int = 10_000) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, ClientState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, client: ClientState) -> None:
        self._expire()
        while len(self._sessions) >= self.max_sessions:
            _, oldest = self._sessions.popitem(last=False)
            self._cancel(oldest)
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
        for task in client.in_flight.values():
            task.cancel()
        if not client.notifications.full():
            client.notifications.put_nowait({})  # wakes its GET stream, which then ends

    def close_all(self) -> None:
        """End every session (shutdown): streams close instead of holding the server open."""
        for session_id in list(self._sessions):
            self.remove(session_id)
