"""The Authenticator as the gateway uses it: headers in, Principal or a 401 with the MCP challenge out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from helpers import FakeClock
from idp import AUDIENCE, Issuer, SigningKey
from mcpfleet.config import FleetConfig, parse_config
from mcpfleet.database import Database
from mcpfleet.exceptions import AuthenticationError, SecretError
from mcpfleet.security import ApiKeyStore, AuthConfig, Authenticator, JwtVerifier, Principal
from mcpfleet.security.metadata import metadata_routes, metadata_url, unauthorized_response, www_authenticate

pytestmark = pytest.mark.timeout(30)
SECRET = "correct-horse-battery-staple-0123456789"


def fleet(tmp_path: Path, auth: str) -> FleetConfig:
    return parse_config(f"home: {tmp_path / 'home'}\nauth: {auth}")


@pytest.fixture
async def both(tmp_path: Path, issuer: Issuer, clock: FakeClock) -> AsyncIterator[Authenticator]:
    config = fleet(
        tmp_path,
        f"{{mode: api_key+jwt, resource: '{AUDIENCE}', default_role: viewer, "
        f"jwt: {{issuer: '{issuer.url}', roles_claim: realm_access.roles}}}}",
    )
    auth = Authenticator.for_fleet(config, clock=clock)
    yield auth
    await auth.aclose()
    assert auth.keys is not None
    auth.keys.database.dispose()


async def test_api_keys_and_jwts_both_authenticate(
    both: Authenticator, issuer: Issuer, rsa1: SigningKey
) -> None:
    assert both.keys is not None
    key, info = both.keys.create("ci-bot", "developer")
    for headers in (
        {"X-API-Key": key},
        {"authorization": f"Bearer {key}"},
        {"Authorization": f"bearer {key}"},
    ):
        principal = await both.authenticate(headers)
        assert principal == Principal("ci-bot", ("developer",), "api_key", key_id=info.id)
    token = rsa1.sign(issuer.claims(sub="alice", realm_access={"roles": ["admin", "developer"]}, scope="a b"))
    principal = await both.authenticate({"Authorization": f"Bearer {token}"})
    assert principal.expires_at is not None  # from the token's exp: it is not trusted past it
    assert replace(principal, expires_at=None) == Principal(
        "alice", ("admin", "developer"), "jwt", scopes=("a", "b")
    )
    no_roles = rsa1.sign(issuer.claims(sub="bob"))
    assert (await both.authenticate({"Authorization": f"Bearer {no_roles}"})).roles == ("viewer",)


@pytest.mark.parametrize(
    ("headers", "reason", "token_given"),
    [
        ({}, "authentication required", False),
        ({"Authorization": "Basic YWxpY2U6cHc="}, "not the 'Basic' scheme", True),
        ({"Authorization": "Bearer "}, "not the 'Bearer' scheme", True),
        ({"Authorization": "Bearer abc", "X-API-Key": "mcpf_x"}, "send one credential", True),
        ({"Authorization": "Bearer not.a.jwt"}, "not a valid JWT", True),
        ({"X-API-Key": "mcpf_00000000_" + "x" * 43}, "unknown API key", True),
    ],
)
async def test_bad_requests_are_refused(
    both: Authenticator, headers: dict[str, str], reason: str, token_given: bool
) -> None:
    with pytest.raises(AuthenticationError, match=reason) as info:
        await both.authenticate(headers)
    assert info.value.token_given is token_given


async def test_modes_accept_only_their_credentials(
    tmp_path: Path, issuer: Issuer, rsa1: SigningKey, clock: FakeClock
) -> None:
    keys_only = Authenticator.for_fleet(fleet(tmp_path, "api_key"))
    token = rsa1.sign(issuer.claims())
    with pytest.raises(AuthenticationError, match="only mcpfleet API keys"):
        await keys_only.authenticate({"Authorization": f"Bearer {token}"})
    assert keys_only.keys is not None
    key, _ = keys_only.keys.create("bot", "viewer")
    keys_only.keys.database.dispose()
    jwt_only = Authenticator.for_fleet(
        fleet(tmp_path, f"{{mode: jwt, resource: '{AUDIENCE}', jwt: {{jwks_url: '{issuer.url}/jwks'}}}}"),
        clock=clock,
    )
    with pytest.raises(AuthenticationError, match="API keys are not accepted here"):
        await jwt_only.authenticate({"X-API-Key": key})
    assert (await jwt_only.authenticate({"Authorization": f"Bearer {token}"})).name == "alice"
    await jwt_only.aclose()


async def test_no_authentication_gives_the_anonymous_principal() -> None:
    auth = Authenticator.for_fleet(parse_config("auth: {mode: none, anonymous_role: developer}"))
    assert await auth.authenticate({"Authorization": "Bearer whatever"}) == Principal(
        "anonymous", ("developer",), "anonymous"
    )
    assert (await Authenticator(AuthConfig()).authenticate({})).roles == ()


async def test_shared_secret_comes_from_the_environment(tmp_path: Path) -> None:
    import jwt

    config = fleet(tmp_path, f"{{mode: jwt, resource: '{AUDIENCE}', jwt: {{secret: '${{JWT_SECRET}}'}}}}")
    with pytest.raises(SecretError, match=r"auth.jwt.secret: \$\{JWT_SECRET\} is not set"):
        Authenticator.for_fleet(config, environ={})
    auth = Authenticator.for_fleet(config, environ={"JWT_SECRET": SECRET})
    token = jwt.encode({"aud": AUDIENCE, "sub": "svc", "roles": "a b", "exp": time.time() + 60}, SECRET)
    assert (await auth.authenticate({"authorization": f"Bearer {token}"})).roles == ("a", "b")
    await auth.aclose()


def test_challenge_and_metadata_documents() -> None:
    assert metadata_url("https://fleet.example.com/mcp") == (
        "https://fleet.example.com/.well-known/oauth-protected-resource/mcp"
    )
    assert metadata_url("https://fleet.example.com") == (
        "https://fleet.example.com/.well-known/oauth-protected-resource"
    )
    jwt_config = AuthConfig.model_validate(
        {"mode": "jwt", "resource": AUDIENCE, "scopes_supported": ["mcp"], "jwt": {"issuer": "https://i"}}
    )
    assert www_authenticate(jwt_config, None, AUDIENCE) == (
        'Bearer resource_metadata="https://fleet.test/.well-known/oauth-protected-resource/mcp", scope="mcp"'
    )
    refused = www_authenticate(jwt_config, AuthenticationError('bad "sig"\nhere'), AUDIENCE)
    assert refused.endswith(', error="invalid_token", error_description="bad \'sig\'\'here"')
    keys_only = AuthConfig(mode="api_key")
    assert www_authenticate(keys_only, AuthenticationError("x", token_given=False), AUDIENCE) == (
        'Bearer realm="mcpfleet"'
    )


async def test_starlette_helpers_serve_metadata_and_401() -> None:
    config = AuthConfig.model_validate(
        {"mode": "jwt", "resource": "https://fleet.example.com/mcp", "jwt": {"issuer": "https://login.test"}}
    )
    assert config.jwt is not None
    auth = Authenticator(config, jwt=JwtVerifier(config.jwt, audience=config.audience))

    async def mcp(request: Request) -> Response:
        try:
            await auth.authenticate(request.headers)
        except AuthenticationError as exc:
            return unauthorized_response(config, exc, request)
        return JSONResponse({})

    app = Starlette(routes=[*metadata_routes(config), Route("/mcp", mcp, methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as client:
        denied = await client.post("/mcp")
        assert denied.status_code == 401
        challenge = denied.headers["www-authenticate"]
        assert challenge == (
            'Bearer resource_metadata="https://fleet.example.com/.well-known/oauth-protected-resource/mcp"'
        )
        assert denied.json()["error"] == "unauthorized"
        garbage = await client.post("/mcp", headers={"Authorization": "Bearer garbage"})
        assert garbage.status_code == 401
        assert garbage.headers["www-authenticate"].startswith(challenge + ', error="invalid_token", ')
        assert "not a valid JWT" in garbage.json()["error_description"]
        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            document = (await client.get(path)).json()
            assert document == {
                "resource": "https://fleet.example.com/mcp",
                "authorization_servers": ["https://login.test"],
                "bearer_methods_supported": ["header"],
                "resource_name": "mcpfleet gateway",
            }
    await auth.aclose()


async def test_metadata_resource_defaults_to_the_request_url() -> None:
    config = AuthConfig.model_validate({"mode": "jwt", "jwt": {"issuer": "https://i", "audience": "x"}})
    app = Starlette(routes=metadata_routes(config))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw:8765") as client:
        document = (await client.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert document["resource"] == "http://gw:8765/mcp"


def test_authenticator_needs_its_parts(tmp_path: Path) -> None:
    from mcpfleet.exceptions import ConfigError

    with pytest.raises(ConfigError, match="needs an ApiKeyStore"):
        Authenticator(AuthConfig(mode="api_key"))
    db = Database(f"sqlite:///{tmp_path / 'f.db'}")
    assert Authenticator(AuthConfig(mode="api_key"), keys=ApiKeyStore(db)).keys is not None
    db.dispose()
