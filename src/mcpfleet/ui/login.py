"""``/ui/login`` and ``/ui/logout``: an API key or a JWT in, a session cookie out.

The login form carries its own CSRF token (a random value in a short-lived cookie and in the
form: both must match), so another site cannot log a browser in under its own key.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mcpfleet.exceptions import AuthenticationError
from mcpfleet.ui.guard import Visitor, form_of, is_https, security_headers
from mcpfleet.ui.kit import Kit
from mcpfleet.ui.session import COOKIE, LOGIN_COOKIE, cookie_header

__all__ = ["routes"]

LOGIN_FORM_LIFETIME = 1800


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a dashboard path only, never another site."""
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui"


def routes(kit: Kit) -> list[Route]:
    guard, pages = kit.guard, kit.pages

    def form(request: Request, *, error: str | None = None, status: int = 200) -> Response:
        token = secrets.token_urlsafe(24)
        response = pages.render(
            request,
            None,
            "login.html",
            status=status,
            title="Log in",
            page="login",
            login_token=token,
            error=error,
            next=_safe_next(request.query_params.get("next")),
            auth_mode=kit.context.authenticator.config.mode if kit.context.authenticator else None,
        )
        response.headers.append(
            "set-cookie",
            cookie_header(
                LOGIN_COOKIE, token, max_age=LOGIN_FORM_LIFETIME, secure=is_https(request), path="/ui/login"
            ),
        )
        return security_headers(response)

    async def login_page(request: Request) -> Response:
        if guard.open:
            return RedirectResponse("/ui", status_code=303)
        return form(request)

    async def login(request: Request) -> Response:
        if guard.open:
            return RedirectResponse("/ui", status_code=303)
        fields = await form_of(request)
        token, expected = fields.get("login_token", ""), request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not secrets.compare_digest(token.encode(), expected.encode()):
            return form(request, error="The login form expired; try again.", status=403)
        credential = fields.get("credential", "").strip()
        if not credential:
            return form(request, error="Paste an API key (mcpf_...) or a JWT.", status=401)
        session = kit.guard.sessions.open(credential)
        try:
            principal = await guard.principal(session)
        except AuthenticationError as exc:
            guard.sessions.close(session)
            return form(request, error=f"Not logged in: {exc}", status=401)
        if principal.expires_at is not None:
            session.expires = min(session.expires, principal.expires_at.astimezone(UTC).timestamp())
            if session.expires <= datetime.now(UTC).timestamp():
                guard.sessions.close(session)
                return form(request, error="Not logged in: this credential has expired", status=401)
        response = RedirectResponse(_safe_next(fields.get("next")), status_code=303)
        guard.set_cookie(response, request, session)
        response.headers.append(
            "set-cookie",
            cookie_header(LOGIN_COOKIE, "", max_age=0, secure=is_https(request), path="/ui/login"),
        )
        return security_headers(response)

    async def logout(request: Request, visitor: Visitor) -> Response:
        guard.sessions.close(visitor.session)
        response = RedirectResponse(f"/ui/login?notice={quote('Logged out.')}", status_code=303)
        response.headers.append("set-cookie", cookie_header(COOKIE, "", max_age=0, secure=is_https(request)))
        return response

    return [
        Route("/ui/login", login_page, methods=["GET"]),
        Route("/ui/login", login, methods=["POST"]),
        Route("/ui/logout", guard.wrap(logout), methods=["POST"]),
    ]
