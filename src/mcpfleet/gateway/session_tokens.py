"""Session ids that carry their session, so any gateway replica can serve any session.

A session of the session protocol (2025-11-25 and older) is little more than what
``initialize`` said: the protocol version, the client's capabilities and info, and who opened
it. With ``gateway.session_secret`` set (the same on every replica), the ``Mcp-Session-Id``
the gateway hands out is that state, signed:

    s1.<base64url JSON>.<base64url HMAC-SHA256>

A replica that has never seen the id checks the signature, rebuilds the session from it and
serves the request; a forged or altered id is refused like an unknown one (HTTP 404, so the
client initializes again). What changes during a session stays with the replica that saw it:
``logging/setLevel`` and open GET streams. A DELETE ends the session on the replica that gets
it; elsewhere it ends at idle expiry. Without a secret, ids are random and each replica knows
only its own sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from typing import Any

__all__ = ["SessionCodec"]

PREFIX = "s1."
MAX_TOKEN = 4096  # header-sized: a session whose state does not fit gets a random id instead


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Signs session state into ids and reads it back; ``secret`` None means ids are random."""

    def __init__(self, secret: str | None) -> None:
        self._key = hashlib.sha256(secret.encode()).digest() if secret else None

    @property
    def shared(self) -> bool:
        return self._key is not None

    def mint(self, state: dict[str, Any]) -> str | None:
        """An id carrying ``state`` (JSON-able), or None without a secret or when it is too big."""
        if self._key is None:
            return None
        body = {**state, "n": _b64(os.urandom(9)), "t": int(time.time())}
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
        token = f"{PREFIX}{payload}.{_sign(self._key, payload)}"
        return token if len(token) <= MAX_TOKEN else None

    def open(self, token: str) -> dict[str, Any] | None:
        """The state an id carries, if this secret signed it; None otherwise."""
        if self._key is None or not token.startswith(PREFIX) or len(token) > MAX_TOKEN:
            return None
        payload, _, signature = token[len(PREFIX) :].partition(".")
        if not hmac.compare_digest(signature, _sign(self._key, payload)):
            return None
        try:
            state = json.loads(_unb64(payload))
        except ValueError:
            return None
        return state if isinstance(state, dict) else None


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
