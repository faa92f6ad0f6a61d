"""Masking: sensitive keys at any depth, credential-shaped values, configurable extras, odd inputs."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from mcpfleet.audit import Masker
from mcpfleet.audit.masking import MASK
from mcpfleet.exceptions import AuditError

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    "key",
    ["password", "PASSWORD", "db_password", "X-Api-Key", "apiKey", "APIKey", "api_key", "token",
     "access_token", "refreshToken", "Authorization", "cookie", "Set-Cookie", "client_secret",
     "secretKey", "private_key", "credentials", "auth"],
)  # fmt: skip
def test_sensitive_keys_are_masked_whole(key: str) -> None:
    assert Masker().mask({key: {"any": "value"}, "path": "/tmp"}) == {key: MASK, "path": "/tmp"}


@pytest.mark.parametrize("key", ["max_tokens", "author", "path", "tokenizer", "keyword", "passage"])
def test_ordinary_keys_stay(key: str) -> None:
    assert Masker().mask({key: "plain"}) == {key: "plain"}


def test_nested_and_in_lists() -> None:
    params = {
        "requests": [
            {"url": "https://example.com", "headers": {"X-Api-Key": "k1", "Accept": "json"}},
            [{"db": {"db_password": "hunter2", "host": "db"}}],
        ]
    }
    assert Masker().mask(params) == {
        "requests": [
            {"url": "https://example.com", "headers": {"X-Api-Key": MASK, "Accept": "json"}},
            [{"db": {"db_password": MASK, "host": "db"}}],
        ]
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer ***"),
        ("use sk-proj-0123456789abcdefghijKLMN now", "use *** now"),
        ("ghp_" + "a1" * 18, MASK),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", MASK),
        ("xoxb-1234567890-abcdefghij", MASK),
        ("key AKIAIOSFODNN7EXAMPLE here", "key *** here"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlF",
            "jwt ***",
        ),
        ("postgresql://fleet:s3cret@db:5432/x", "postgresql://fleet:***@db:5432/x"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\ntail", "***\ntail"),
        ("an ordinary sentence about tokens", "an ordinary sentence about tokens"),
        ("password: hunter2", "password: ***"),
        ('config api_key=abcd1234, token = "xyz987"', 'config api_key=***, token = "***"'),
        ("a keyboard and a password manager", "a keyboard and a password manager"),
    ],
)
def test_credential_shaped_values(text: str, expected: str) -> None:
    assert Masker().mask({"note": text}) == {"note": expected}
    assert Masker().mask([text]) == [expected]


def test_extra_keys_and_patterns() -> None:
    masker = Masker(keys=["ssn", "iban"], patterns=[r"ACCT-\d{8}"])
    params = {"user_ssn": "123", "IBAN": "DE00", "memo": "pay ACCT-12345678 today", "name": "x"}
    assert masker.mask(params) == {"user_ssn": MASK, "IBAN": MASK, "memo": "pay *** today", "name": "x"}
    assert Masker().mask({"user_ssn": "123"}) == {"user_ssn": "123"}


def test_invalid_extra_pattern_says_what_to_do() -> None:
    with pytest.raises(AuditError, match=r"not a valid regular expression.*escape"):
        Masker(patterns=["ACCT-(\\d"])


def test_disabled_masking_only_makes_json_safe() -> None:
    assert Masker(enabled=False).mask({"password": "p", "blob": b"\x00\x01"}) == {
        "password": "p", "blob": "<2 bytes>",
    }  # fmt: skip


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no")


def test_odd_inputs_never_raise_and_stay_json_safe() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(500):
        node["d"] = {}
        node = node["d"]  # type: ignore[assignment]
    cyclic: list[object] = [1]
    cyclic.append(cyclic)
    params = {
        "bytes": b"secret bytes", "set": {3}, "tuple": (1, "a"), "nan": float("nan"), "inf": float("inf"),
        "decimal": Decimal("1.5"), 7: "int key", None: "none key", "deep": deep, "cyclic": cyclic,
        "object": Unprintable(), "nul": "a\x00b", "surrogate": "x\ud800y", "long": "z" * 10_000,
    }  # fmt: skip
    masked = Masker(max_depth=10).mask(params)
    text = json.dumps(masked, allow_nan=False)  # JSON-safe: this would raise otherwise
    text.encode()  # and UTF-8 encodable
    assert masked["bytes"] == "<12 bytes>"
    assert masked["set"] == [3] and masked["tuple"] == [1, "a"]
    assert masked["nan"] == "nan" and masked["inf"] == "inf"
    assert masked["7"] == "int key" and masked["None"] == "none key"
    assert masked["cyclic"] == [1, "<cycle>"]
    assert "nested deeper than 10" in text
    assert masked["object"].startswith("<unmaskable")
    assert "\x00" not in masked["nul"]
    assert masked["long"].endswith("(5904 more characters)")
    assert Masker().mask(Unprintable()).startswith("<unmaskable")


def test_short_strings_pass_as_they_are_but_still_cut_and_cleaned() -> None:
    masker = Masker()
    assert masker.mask({"text": "w1", "n": 2, "flag": True}) == {"text": "w1", "n": 2, "flag": True}
    assert masker.mask({"text": "a\x00b"}) == {"text": "a\ufffdb"}  # NUL: cleaned even when short
    assert masker.mask({"password": "x"}) == {"password": "***"}  # a sensitive key, however short
    tight = Masker(max_string=4)
    assert tight.mask({"text": "abcdefg"}) == {"text": "abcd...(3 more characters)"}
    assert tight.mask({"text": "abcd"}) == {"text": "abcd"}
