"""Dashboard sessions: a signed, expiring cookie naming a session kept in the gateway's memory.

    sessions = UISessions(secret=b"...", lifetime=8 * 3600)
    session = sessions.open("mcpf_...")            # after the credential was verified
    value = sessions.cookie_value(session)         # Set-Cookie: mcpfleet_ui=<value>; HttpOnly; ...
    sessions.find(value)                           # the session again, or None (forged, expired, closed)

The cookie carries a random session id, its expiry and an HMAC-SHA256 of both: never the
credential. The session keeps the credential (an API key or a JWT) so that every request checks
it again through the gateway's authenticator: a revoked key or an expired token ends the session
at once (within the authenticator's few seconds of caching). Each session has its own CSRF
token, which every POST must carry (a form field ``csrf`` or an ``X-CSRF-Token`` header).
Sessions live in memory: a gateway restart asks everyone to log in again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COOKIE", "LOGIN_COOKIE", "UISession", "UISessions", "cookie_header"]

COOKIE = "mcpfleet_ui"
LOGIN_COOKIE = "mcpfleet_login"  # the login form's own CSRF token (double submit), before a session
MAX_SESSIONS = 1000


@dataclass
class UISession:
    """One logged-in browser. ``credential`` is None for the open dashboard (no ``auth`` mode)."""

    id: str
    credential: str | None
    csrf: str
    expires: float  # wall-clock seconds

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class UISessions:
    """The dashboard's sessions, bounded (the oldest go first), each valid until ``lifetime`` ends."""

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        lifetime: float = 8 * 3600,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret or secrets.token_bytes(32)
        self.lifetime = lifetime
        self._now = now
        self._sessions: OrderedDict[str, UISession] = OrderedDict()

    def open(self, credential: str | None, *, expires: float | None = None) -> UISession:
        """A new session for a verified ``credential``; ``expires`` (wall clock) shortens it,
        e.g. to a token's own expiry."""
        until = self._now() + self.lifetime
        if expires is not None:
            until = min(until, expires)
        session = UISession(secrets.token_urlsafe(24), credential, secrets.token_urlsafe(24), until)
        self._sessions[session.id] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def close(self, session: UISession) -> None:
        self._sessions.pop(session.id, None)

    def _sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def cookie_value(self, session: UISession) -> str:
        body = f"{session.id}.{int(session.expires)}"
        return f"{body}.{self._sign(body)}"

    def find(self, value: str | None) -> UISession | None:
        """The session a cookie value names, if its signature holds and it has not expired."""
        if not value or value.count(".") != 2:
            return None
        sid, expires, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{sid}.{expires}")):
            return None
        session = self._sessions.get(sid)
        if session is None or not expires.isdigit() or int(expires) != int(session.expires):
            return None
        if session.expires <= self._now():
            self.close(session)
            return None
        return session

    def remaining(self, session: UISession) -> int:
        return max(0, int(session.expires - self._now()))


def cookie_header(name: str, value: str, *, max_age: int, secure: bool, path: str = "/ui") -> str:
    """A ``Set-Cookie`` value scripts cannot read and other sites cannot send (``SameSite=Strict``);
    ``Secure`` when the dashboard is served over https."""
    parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)
