"""Dashboard sessions: signed, expiring cookie values; CSRF tokens; the cookie's flags."""

from __future__ import annotations

import pytest

from mcpfleet.ui.session import UISessions, cookie_header

pytestmark = pytest.mark.timeout(10)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_cookie_value_finds_its_session_until_it_expires() -> None:
    clock = Clock()
    sessions = UISessions(b"k" * 32, lifetime=60, now=clock)
    session = sessions.open("mcpf_x")
    value = sessions.cookie_value(session)
    assert "mcpf_x" not in value and sessions.find(value) is session
    assert sessions.remaining(session) == 60
    clock.now += 61
    assert sessions.find(value) is None
    assert sessions.find(value) is None  # and it is gone


def test_a_forged_or_foreign_value_finds_nothing() -> None:
    sessions = UISessions(b"k" * 32)
    session = sessions.open(None)
    sid, expires, signature = sessions.cookie_value(session).split(".")
    assert sessions.find(f"{sid}.{int(expires) + 3600}.{signature}") is None  # a longer life: no
    assert sessions.find(f"{sid}.{expires}.{'0' * len(signature)}") is None
    assert UISessions(b"j" * 32).find(sessions.cookie_value(session)) is None  # another key
    assert sessions.find(None) is None and sessions.find("garbage") is None
    sessions.close(session)
    assert sessions.find(sessions.cookie_value(session)) is None  # logged out


def test_a_token_expiry_shortens_the_session_and_csrf_is_per_session() -> None:
    clock = Clock()
    sessions = UISessions(lifetime=3600, now=clock)
    short = sessions.open("jwt", expires=clock.now + 10)
    other = sessions.open("jwt")
    assert sessions.remaining(short) == 10
    assert short.csrf != other.csrf
    assert short.csrf_ok(short.csrf) and not short.csrf_ok(other.csrf) and not short.csrf_ok(None)


def test_the_cookie_is_httponly_strict_and_secure_over_https() -> None:
    plain = cookie_header("c", "v", max_age=5, secure=False)
    assert plain == "c=v; Path=/ui; Max-Age=5; HttpOnly; SameSite=Strict"
    assert cookie_header("c", "v", max_age=5, secure=True).endswith("; SameSite=Strict; Secure")
