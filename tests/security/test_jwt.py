"""JWT verification against a real identity provider on loopback: JWKS, discovery, rotation, attacks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from helpers import FakeClock
from idp import AUDIENCE, Issuer, SigningKey, rsa_key
from mcpfleet.config import parse_config
from mcpfleet.exceptions import AuthenticationError, ConfigError
from mcpfleet.security import JwtConfig, JwtVerifier

pytestmark = pytest.mark.timeout(30)
SECRET = "s" * 40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Any = None) -> str:
    """A token built by hand, as an attacker would: any header, any (or no) signature."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def verifier(issuer: Issuer, clock: FakeClock, **config: Any) -> JwtVerifier:
    settings: dict[str, Any] = {"jwks_url": f"{issuer.url}/jwks", "issuer": issuer.url, **config}
    return JwtVerifier(JwtConfig(**settings), audience=[AUDIENCE], clock=clock)


async def rejected(v: JwtVerifier, token: str) -> str:
    with pytest.raises(AuthenticationError) as info:
        await v.verify(token)
    return str(info.value)


async def test_rs256_and_es256_tokens_verify_against_the_jwks(
    issuer: Issuer, clock: FakeClock, rsa1: SigningKey, ec1: SigningKey
) -> None:
    v = verifier(issuer, clock)
    claims = await v.verify(rsa1.sign(issuer.claims(roles=["developer"])))
    assert claims["sub"] == "alice" and claims["roles"] == ["developer"]
    assert (await v.verify(ec1.sign(issuer.claims(sub="bob"))))["sub"] == "bob"
    assert issuer.hits["jwks"] == 1  # both keys came from one fetch
    await v.aclose()


async def test_issuer_alone_discovers_the_jwks_uri(issuer: Issuer, clock: FakeClock, ec1: SigningKey) -> None:
    v = JwtVerifier(JwtConfig(issuer=issuer.url), audience=[AUDIENCE], clock=clock)
    assert (await v.verify(ec1.sign(issuer.claims())))["iss"] == issuer.url
    assert issuer.hits == {"discovery": 1, "jwks": 1}
    await v.aclose()


async def test_rotation_refetches_once_per_interval(
    issuer: Issuer, clock: FakeClock, rsa1: SigningKey, rsa2: SigningKey
) -> None:
    v = verifier(issuer, clock, jwks_refresh_interval=60)
    await v.verify(rsa1.sign(issuer.claims()))
    clock.now += 61
    issuer.keys = [rsa2]  # the issuer rotates: the new kid is fetched on first sight
    assert (await v.verify(rsa2.sign(issuer.claims(sub="after"))))["sub"] == "after"
    assert issuer.hits["jwks"] == 2 and v.fetches == 2
    # A burst of unknown kids (forged or not) within the interval causes no further fetch.
    stranger = rsa_key("rsa-unknown")
    results = await asyncio.gather(
        *(v.verify(stranger.sign(issuer.claims())) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert "'rsa-unknown' is not among the issuer's RS256 keys" in str(results[0])
    assert issuer.hits["jwks"] == 2
    clock.now += 60
    assert "rsa-unknown" in await rejected(v, stranger.sign(issuer.claims()))
    assert issuer.hits["jwks"] == 3  # the interval passed: one more look
    # The removed key is no longer trusted once the set was refetched.
    assert "rsa-1" in await rejected(v, rsa1.sign(issuer.claims()))
    await v.aclose()


async def test_concurrent_unknown_kids_share_one_fetch(
    issuer: Issuer, clock: FakeClock, rsa1: SigningKey, rsa2: SigningKey
) -> None:
    v = verifier(issuer, clock)
    await v.verify(rsa1.sign(issuer.claims()))
    clock.now += 120
    issuer.keys = [rsa1, rsa2]
    tokens = [rsa2.sign(issuer.claims(sub=f"u{i}")) for i in range(10)]
    claims = await asyncio.gather(*(v.verify(t) for t in tokens))
    assert [c["sub"] for c in claims] == [f"u{i}" for i in range(10)]
    assert issuer.hits["jwks"] == 2
    await v.aclose()


async def test_keys_are_refetched_after_max_age(issuer: Issuer, clock: FakeClock, rsa1: SigningKey) -> None:
    v = verifier(issuer, clock, jwks_max_age=600)
    await v.verify(rsa1.sign(issuer.claims()))
    clock.now += 599
    await v.verify(rsa1.sign(issuer.claims()))
    assert issuer.hits["jwks"] == 1
    clock.now += 2
    await v.verify(rsa1.sign(issuer.claims()))
    assert issuer.hits["jwks"] == 2
    await v.aclose()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"exp": -60}, "expired"),
        ({"nbf": 600}, "not valid yet"),
        ({"aud": "https://other.test/mcp"}, "another audience; request one for https://fleet.test/mcp"),
        ({"iss": "https://evil.test"}, "issued by someone else"),
    ],
)
async def test_invalid_claims_are_refused(
    issuer: Issuer, clock: FakeClock, rsa1: SigningKey, change: dict[str, Any], reason: str
) -> None:
    claims = issuer.claims()
    for name, value in change.items():
        claims[name] = int(time.time()) + value if isinstance(value, int) else value
    v = verifier(issuer, clock)
    assert reason in await rejected(v, rsa1.sign(claims))
    await v.aclose()


async def test_leeway_tolerates_small_clock_skew(issuer: Issuer, clock: FakeClock, rsa1: SigningKey) -> None:
    v = verifier(issuer, clock, leeway=30)
    claims = issuer.claims(exp=int(time.time()) - 10, nbf=int(time.time()) + 10)
    assert (await v.verify(rsa1.sign(claims)))["sub"] == "alice"
    await v.aclose()


async def test_a_token_without_exp_is_refused(issuer: Issuer, clock: FakeClock, rsa1: SigningKey) -> None:
    claims = issuer.claims()
    del claims["exp"]
    v = verifier(issuer, clock)
    assert "lacks the 'exp' claim" in await rejected(v, rsa1.sign(claims))
    await v.aclose()


async def test_tampered_and_foreign_signatures_are_refused(
    issuer: Issuer, clock: FakeClock, rsa1: SigningKey
) -> None:
    v = verifier(issuer, clock)
    header, _payload, signature = rsa1.sign(issuer.claims(roles=["viewer"])).split(".")
    promoted = b64(json.dumps(issuer.claims(roles=["admin"])).encode())
    assert "signature does not verify" in await rejected(v, f"{header}.{promoted}.{signature}")
    impostor = rsa_key(rsa1.kid)  # same kid, another private key
    assert "signature does not verify" in await rejected(v, impostor.sign(issuer.claims()))
    await v.aclose()


async def test_alg_none_is_refused(issuer: Issuer, clock: FakeClock, rsa1: SigningKey) -> None:
    v = verifier(issuer, clock)
    for alg in ("none", "None", "NONE"):
        token = forge({"alg": alg, "typ": "JWT", "kid": rsa1.kid}, issuer.claims(roles=["admin"]))
        assert f"algorithm {alg!r} is not accepted" in await rejected(v, token)
    assert issuer.hits["jwks"] == 0  # refused before any key was looked up
    await v.aclose()


async def test_hs256_signed_with_the_rsa_public_key_is_refused(
    issuer: Issuer, clock: FakeClock, rsa1: SigningKey
) -> None:
    public_pem = rsa1.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = forge(
        {"alg": "HS256", "typ": "JWT", "kid": rsa1.kid},
        issuer.claims(roles=["admin"]),
        lambda data: hmac.new(public_pem, data, hashlib.sha256).digest(),
    )
    v = verifier(issuer, clock)
    assert "algorithm 'HS256' is not accepted; this gateway accepts RS256, ES256" in await rejected(v, token)
    # Even a configuration that lists RS256 only keeps refusing ES256 tokens.
    only_rs = verifier(issuer, clock, algorithms=["RS256"])
    assert "'ES256' is not accepted" in await rejected(only_rs, forge({"alg": "ES256"}, issuer.claims()))
    await v.aclose()
    await only_rs.aclose()


def test_configurations_that_invite_confusion_are_refused() -> None:
    with pytest.raises(ConfigError, match="HS256 needs a shared secret"):
        parse_config(
            "auth: {mode: jwt, resource: 'https://f/mcp', "
            "jwt: {jwks_url: 'https://i/jwks', algorithms: [RS256, HS256]}}"
        )
    with pytest.raises(ConfigError, match="only HS256, HS384 or HS512"):
        parse_config(
            "auth: {mode: jwt, resource: 'https://f/mcp', jwt: {secret: '${S}', algorithms: [RS256]}}"
        )
    with pytest.raises(ConfigError, match="write the secret as a reference"):
        parse_config("auth: {mode: jwt, resource: 'https://f/mcp', jwt: {secret: hunter2}}")
    with pytest.raises(ConfigError, match=r"set jwt\.audience or resource"):
        parse_config("auth: {mode: jwt, jwt: {issuer: 'https://i'}}")
    with pytest.raises(ConfigError, match=r"algorithms\.0 \(line 1\): Input should be 'HS256'"):
        parse_config(
            "auth: {mode: jwt, resource: 'https://f/mcp', jwt: {issuer: 'https://i', algorithms: [none]}}"
        )


async def test_shared_secret_hs256(clock: FakeClock, rsa1: SigningKey) -> None:
    v = JwtVerifier(JwtConfig(secret="${JWT_SECRET}"), audience=[AUDIENCE], secret=SECRET, clock=clock)
    now = int(time.time())
    good = jwt.encode({"aud": AUDIENCE, "sub": "svc", "exp": now + 60}, SECRET, algorithm="HS256")
    assert (await v.verify(good))["sub"] == "svc"
    wrong = jwt.encode({"aud": AUDIENCE, "exp": now + 60}, "x" * 40, algorithm="HS256")
    assert "signature does not verify" in await rejected(v, wrong)
    assert "'RS256' is not accepted" in await rejected(v, rsa1.sign({"aud": AUDIENCE, "exp": now + 60}))
    with pytest.raises(ConfigError, match="at least 32 random bytes"):
        JwtVerifier(JwtConfig(secret="${JWT_SECRET}"), audience=[AUDIENCE], secret="short")


async def test_an_unreachable_issuer_is_reported_and_not_hammered(clock: FakeClock, rsa1: SigningKey) -> None:
    from helpers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    transport_calls = 0

    async def count(request: httpx.Request) -> None:
        nonlocal transport_calls
        transport_calls += 1

    http = httpx.AsyncClient(timeout=2.0, event_hooks={"request": [count]})
    v = JwtVerifier(JwtConfig(jwks_url=f"{url}/jwks"), audience=[AUDIENCE], http=http, clock=clock)
    token = rsa1.sign({"aud": AUDIENCE, "exp": int(time.time()) + 60})
    assert "fetching the issuer's keys failed" in await rejected(v, token)
    assert "fetching the issuer's keys failed" in await rejected(v, token)
    assert transport_calls == 1
    clock.now += 60
    await rejected(v, token)
    assert transport_calls == 2
    await http.aclose()
