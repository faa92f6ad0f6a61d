"""Masking of audit parameters: secrets never reach the audit store.

Two rules, both case-insensitive:

- a value under a sensitive key is replaced whole (``password``, ``token``, ``secret``,
  ``api_key``, ``authorization``, ``cookie``, ... also ``X-Api-Key``, ``db_password``,
  ``accessToken``), at any depth, in dicts inside lists;
- a string that contains something credential-shaped has that part replaced (bearer and basic
  credentials, PEM private keys, ``sk-``, ``ghp_``, ``github_pat_``, ``xoxb-``, ``AKIA``, JWTs,
  passwords in URLs).

Keys are split into words (``max_tokens`` is ``max tokens``, which is not ``token``), so
ordinary parameters stay readable.

    >>> Masker().mask({"path": "/tmp", "headers": {"X-Api-Key": "k", "Authorization": "Bearer abcdefgh1"}})
    {'path': '/tmp', 'headers': {'X-Api-Key': '***', 'Authorization': '***'}}

The result is always JSON-safe (bytes, sets, NaN and unknown objects are turned into strings)
and :meth:`Masker.mask` never raises.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mcpfleet.exceptions import AuditError

__all__ = ["MASK", "SENSITIVE_KEYS", "Masker", "clean_text"]

MASK = "***"
SENSITIVE_KEYS = (
    "password", "passwd", "passphrase", "secret", "token", "auth", "authorization",
    "cookie", "credential", "credentials", "api_key", "apikey", "access_key", "private_key",
    "session_id", "signature",
)  # fmt: skip

_CREDENTIALS = re.compile(
    "|".join(
        (
            r"(?P<scheme>(?P<scheme_keep>\b(?i:bearer|basic|token)\s+)[A-Za-z0-9\-._~+/]{8,}=*)",
            # "password: x", "api_key=x", "secret = 'x'" in free text: the value goes, the label stays
            r"(?P<said>(?P<said_keep>\b(?i:password|passwd|pwd|passphrase|secret|api[_-]?key|access[_-]?key"
            r"|token)\s*[:=]\s*['\"]?)[^\s'\",;]{3,})",
            r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|$)",
            r"(?P<url>(?P<url_keep>://[^/\s:@]+:)[^/\s@]+(?=@))",
            r"\bsk-(?:proj-|ant-|live-)?[A-Za-z0-9_\-]{16,}",
            r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
            r"\bgh[pousr]_[A-Za-z0-9]{30,}",
            r"\bgithub_pat_[A-Za-z0-9_]{22,}",
            r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
            r"\bAIza[0-9A-Za-z_\-]{35}",
            r"\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{8,}",
        )
    )
)
# A cheap first look: a string without any of these cannot match _CREDENTIALS.
_MAYBE_CREDENTIAL = re.compile(
    r"(?i:bearer|basic|token|pass|pwd|secret|key)|BEGIN|://|sk-|k_live_|k_test_|gh[pousr]_|github_pat_|xox"
    r"|AKIA|ASIA|AIza|eyJ"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def _words(key: str) -> str:
    """``X-Api-Key`` -> ``x_api_key``, ``accessToken`` -> ``access_token``, ``APIKey`` -> ``api_key``."""
    return _NON_WORD.sub("_", _CAMEL.sub("_", key).lower()).strip("_")


def clean_text(text: str) -> str:
    """Text every store can hold: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode()
    return text


def _text_of(value: object, convert: Callable[[object], str]) -> str:
    try:
        return convert(value)
    except Exception as exc:  # a broken __repr__ is the object's problem, not the audited call's
        return f"<unmaskable {type(value).__name__}: {type(exc).__name__}>"


def _replace_credential(match: re.Match[str]) -> str:
    for group in ("scheme", "said", "url"):
        if match.group(group) is not None:
            return match.group(f"{group}_keep") + MASK
    return MASK


def _compile(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise AuditError(
            f"mask pattern {pattern!r} is not a valid regular expression ({exc}); "
            "escape special characters with \\"
        ) from None


class Masker:
    """Masks audit parameters; configurable with more keys and more value patterns.

    ``keys`` are extra key words (``"ssn"`` masks ``ssn``, ``user_ssn``, ``SSN-Number``);
    ``patterns`` are extra regular expressions, each match in a string value is masked.
    ``enabled=False`` only makes values JSON-safe. Strings longer than ``max_string`` are cut.
    """

    def __init__(
        self,
        keys: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
        *,
        enabled: bool = True,
        max_depth: int = 20,
        max_string: int = 4096,
    ) -> None:
        words = sorted({_words(k) for k in (*SENSITIVE_KEYS, *keys) if _words(k)}, key=len, reverse=True)
        self._key = re.compile(r"(?:^|_)(?:" + "|".join(map(re.escape, words)) + r")(?:_|$)")
        self._patterns = [_compile(p) for p in patterns]
        self.enabled = enabled
        self.max_depth = max_depth
        self.max_string = max_string
        self._short = min(8, max_string + 1)  # strings shorter than this mask_text leaves as they are
        self._key_cache: dict[str, bool] = {}

    def is_sensitive_key(self, key: str) -> bool:
        """Whether values under ``key`` are masked whole."""
        hit = self._key_cache.get(key)
        if hit is None:
            hit = bool(self._key.search(_words(key)))
            if len(self._key_cache) < 10_000:  # keys repeat; a bound keeps odd inputs from growing it
                self._key_cache[key] = hit
        return hit

    def mask_text(self, text: str) -> str:
        """``text`` with credential-shaped parts replaced by ``***``, cut to ``max_string``."""
        text = clean_text(text)
        if self.enabled and len(text) >= 8:
            if _MAYBE_CREDENTIAL.search(text):
                text = _CREDENTIALS.sub(_replace_credential, text)
            for pattern in self._patterns:
                text = pattern.sub(MASK, text)
        if len(text) > self.max_string:
            text = f"{text[: self.max_string]}...({len(text) - self.max_string} more characters)"
        return text

    def mask(self, value: Any) -> Any:
        """A JSON-safe, masked copy of ``value``; never raises."""
        try:
            return self._walk(value, 0, set())
        except Exception as exc:  # a broken __str__ or __iter__ must not break the call being audited
            return f"<unmaskable {type(value).__name__}: {type(exc).__name__}>"

    def _walk(self, value: Any, depth: int, path: set[int]) -> Any:
        kind = type(value)
        if kind is str:
            if len(value) < self._short and value.isascii() and "\x00" not in value:
                return value  # too short to hold a credential or be cut, nothing to clean: mask_text's answer
            return self.mask_text(value)
        if value is None or kind is int or kind is bool:
            return value
        if isinstance(value, str):
            return self.mask_text(str(value))  # a str subclass (an enum member, say) as plain text
        if isinstance(value, bool | int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else str(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return f"<{len(value)} bytes>"  # binary may hold anything; its size is what an audit needs
        if depth >= self.max_depth:
            return f"<nested deeper than {self.max_depth}>"
        if id(value) in path:
            return "<cycle>"
        path.add(id(value))
        try:
            if kind is dict or isinstance(value, Mapping):
                out: dict[str, Any] = {}
                for key, item in value.items():
                    name = clean_text(key if isinstance(key, str) else _text_of(key, str))
                    sensitive = self.enabled and self.is_sensitive_key(name)
                    out[name] = MASK if sensitive else self._walk(item, depth + 1, path)
                return out
            if kind is list or isinstance(value, list | tuple | set | frozenset):
                return [self._walk(item, depth + 1, path) for item in value]
            dump = getattr(value, "model_dump", None)  # pydantic models: their fields, masked
            if callable(dump):
                return self._walk(dump(mode="json"), depth + 1, path)
            return self.mask_text(_text_of(value, repr))
        finally:
            path.discard(id(value))
