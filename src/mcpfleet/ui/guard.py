"""Who may see the dashboard and who may act in it: every page handler runs behind :class:`Guard`.

- With authentication on (``auth.mode``), a visitor logs in with an API key or a JWT and gets a
  session cookie; each request checks that credential again, so a revoked key is refused.
- With authentication off, the dashboard is open, as the admin API is, but only to requests
  that reach the gateway on a loopback address: nothing of it is served beyond loopback
  without authentication. The visitor is the fleet's anonymous principal.
- Any authenticated principal may look. Acting (every POST but logging in and out, and the
  playground, whose calls the access rules judge) needs the ADMIN permission (or no ``access``
  roles at all); others get 403 and see no action buttons.
- Every POST carries the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from mcpfleet.exceptions import AuthenticationError
from mcpfleet.security.exposure import is_loopback
from mcpfleet.security.principal import Principal
from mcpfleet.ui.context import DashboardContext
from mcpfleet.ui.session import COOKIE, UISession, UISessions, cookie_header

__all__ = ["Guard", "Handler", "Visitor", "form_of", "security_headers"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True)
class Visitor:
    """The principal behind a request, its session, and whether it may act."""

    principal: Principal
    session: UISession
    can_act: bool
    open: bool  # the dashboard runs without authentication


Handler = Callable[[Request, Visitor], Awaitable[Response]]
Need = Literal["see", "call", "act"]


def security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"  # "no-referrer" makes Chromium send Origin: null
    response.headers["Cache-Control"] = "no-store"
    return response


async def form_of(request: Request) -> dict[str, str]:
    """An urlencoded form body (read once, kept on the request); JSON bodies give {}."""
    cached = getattr(request.state, "form", None)
    if cached is None:
        cached = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body = (await request.body()).decode("utf-8", "replace")
            cached = dict(parse_qsl(body, keep_blank_values=True))
        request.state.form = cached
    return dict(cached)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


class Guard:
    """Wraps page handlers with authentication, the loopback rule, CSRF and the admin check."""

    def __init__(self, context: DashboardContext, sessions: UISessions) -> None:
        self.context = context
        self.sessions = sessions

    @property
    def open(self) -> bool:
        return self.context.authenticator is None

    def can_act(self, principal: Principal) -> bool:
        access = self.context.access
        return access is None or access.is_admin(principal)

    async def principal(self, session: UISession) -> Principal:
        """The session's principal, its credential checked again (AuthenticationError if no more)."""
        authenticator = self.context.authenticator
        if authenticator is None or session.credential is None:
            return self.context.anonymous
        return await authenticator.authenticate({"authorization": f"Bearer {session.credential}"})

    def set_cookie(self, response: Response, request: Request, session: UISession) -> None:
        value = self.sessions.cookie_value(session)
        header = cookie_header(
            COOKIE, value, max_age=self.sessions.remaining(session), secure=is_https(request)
        )
        response.headers.append("set-cookie", header)

    def wrap(self, handler: Handler, need: Need = "see") -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            return security_headers(await self._guard(request, handler, need))

        return guarded

    async def _guard(self, request: Request, handler: Handler, need: Need) -> Response:
        wants_json = request.url.path.startswith("/ui/api/") or "json" in request.headers.get("accept", "")
        if self.open:
            server = request.scope.get("server")
            if server is not None and not is_loopback(str(server[0])):
                return PlainTextResponse(
                    "The dashboard is served beyond loopback only with authentication: set auth.mode "
                    "in mcpfleet.yaml (see docs/security.md), or open it on 127.0.0.1",
                    status_code=403,
                )
        session = self.sessions.find(request.cookies.get(COOKIE))
        fresh = False
        if session is None and self.open and request.method == "GET":
            session, fresh = self.sessions.open(None), True
        if session is None:
            return self._to_login(request, wants_json, "Log in to see the fleet.")
        try:
            principal = await self.principal(session)
        except AuthenticationError as exc:
            self.sessions.close(session)
            return self._to_login(request, wants_json, f"Your session ended: {exc}")
        visitor = Visitor(principal, session, self.can_act(principal), self.open)
        if request.method == "POST":
            form = await form_of(request)
            token = request.headers.get("x-csrf-token") or form.get("csrf")
            if not session.csrf_ok(token):
                return _refuse(403, "This form is stale or came from elsewhere (CSRF check); reload the page")
            if need == "act" and not visitor.can_act:
                roles = ", ".join(principal.roles) or "none"
                return _refuse(
                    403,
                    f"This needs the ADMIN permission, which {principal.name!r} (roles: {roles}) lacks; "
                    "log in with a key of an admin role",
                )
        response = await handler(request, visitor)
        if fresh:
            self.set_cookie(response, request, session)
        return response

    def _to_login(self, request: Request, wants_json: bool, message: str) -> Response:
        if wants_json or request.method != "GET":
            return JSONResponse({"error": message, "login": "/ui/login"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)


def _refuse(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
