"""RFC 8693 token exchange against a token endpoint of our own on loopback: two JWT callers reach a
real remote MCP server (ours, answering `whoami` with the Authorization it received) each with
their own exchanged token, cached until it expires."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from helpers import FakeClock, fleet, free_port, routing_headers, serve_gateway, serve_http, until
from idp import rsa_key, serve_issuer
from mcpfleet.config import GatewayConfig, RemotePackage, ServerSpec
from mcpfleet.manager import MCPManager
from mcpfleet.security import AuthConfig
from mcpfleet.security.token_exchange import (
    TOKEN_EXCHANGE_GRANT,
    TokenExchangeConfig,
    TokenExchangeError,
    TokenExchanger,
)

pytestmark = pytest.mark.timeout(60)

MODERN = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}
HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}
CLIENT_SECRET = "gateway-client-secret-0123456789"


@contextlib.asynccontextmanager
async def token_endpoint(expires_in: int = 3600) -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A token endpoint that exchanges any JWT for ``exchanged-<sub>-<n>``; yields its URL and the
    forms it received (with the client that authenticated)."""
    forms: list[dict[str, str]] = []

    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        client = base64.b64decode(credentials).decode() if scheme == "Basic" else ""
        forms.append({**form, "client": client})
        if client != f"fleet-gateway:{CLIENT_SECRET}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != TOKEN_EXCHANGE_GRANT:
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        subject = jwt.decode(form["subject_token"], options={"verify_signature": False})["sub"]
        issued = f"exchanged-{subject}-{len(forms)}"
        return JSONResponse({"access_token": issued, "issued_token_type": form["requested_token_type"],
                             "token_type": "Bearer", "expires_in": expires_in})  # fmt: skip

    port = free_port()
    app = Starlette(routes=[Route("/token", token, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started or task.done())
    try:
        yield f"http://127.0.0.1:{port}/token", forms
    finally:
        server.should_exit = True
        await task


async def whoami(url: str, token: str) -> dict[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "remote__whoami", "arguments": {}, "_meta": MODERN},
    }
    headers = {**HEADERS, **routing_headers(body), "authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.post(f"{url}/mcp", json=body, headers=headers)
    result: dict[str, Any] = reply.json()["result"]
    return result


async def test_two_callers_get_their_own_exchanged_tokens_upstream(tmp_path: Path) -> None:
    signer = rsa_key("k1")
    async with (
        serve_issuer([signer]) as issuer,
        token_endpoint() as (endpoint, forms),
        serve_http("http_server.py", "{port}") as upstream,
    ):
        config = fleet(
            tmp_path / "home",
            remote=ServerSpec(
                package=RemotePackage(url=upstream.url),
                token_exchange=TokenExchangeConfig(
                    token_endpoint=endpoint,
                    client_id="fleet-gateway",
                    client_secret="${TX_SECRET}",
                    audience="https://upstream.test",
                    scope="repo:read",
                ),
            ),
        )
        config.gateway = GatewayConfig(port=0)
        config.auth = AuthConfig.model_validate(
            {"mode": "api_key+jwt", "resource": "https://fleet.test/mcp", "jwt": {"issuer": issuer.url}}
        )
        tokens = {who: signer.sign(issuer.claims(sub=who)) for who in ("alice", "bob")}
        environ = {**os.environ, "TX_SECRET": CLIENT_SECRET}
        async with (
            MCPManager(config, auto_install=True, environ=environ) as manager,
            serve_gateway(manager) as url,
        ):
            await manager.start_all()
            first = {who: (await whoami(url, t))["content"][0]["text"] for who, t in tokens.items()}
            again = {who: (await whoami(url, t))["content"][0]["text"] for who, t in tokens.items()}
    print("upstream saw:", first)
    assert first == {"alice": "Bearer exchanged-alice-1", "bob": "Bearer exchanged-bob-2"}
    assert again == first  # cached until it expires: no second exchange
    assert len(forms) == 2
    assert forms[0]["subject_token"] == tokens["alice"]
    assert forms[0]["audience"] == "https://upstream.test" and forms[0]["scope"] == "repo:read"
    assert forms[0]["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


async def test_a_cached_token_is_renewed_before_it_expires_and_refusals_are_clear() -> None:
    clock = FakeClock()
    async with token_endpoint(expires_in=60) as (endpoint, _forms):
        config = TokenExchangeConfig(token_endpoint=endpoint, client_id="fleet-gateway", skew=30)
        exchanger = TokenExchanger(
            "remote", config, client_id="fleet-gateway", client_secret=CLIENT_SECRET, clock=clock
        )
        subject = jwt.encode({"sub": "alice"}, "k" * 32)
        assert await exchanger.token("alice", subject) == "exchanged-alice-1"
        clock.advance(29)
        assert await exchanger.token("alice", subject) == "exchanged-alice-1"
        clock.advance(2)  # 60 s minus 30 s of skew have passed
        assert await exchanger.token("alice", subject) == "exchanged-alice-2"

        wrong = TokenExchanger(
            "remote", config, client_id="fleet-gateway", client_secret="wrong", clock=clock
        )
        with pytest.raises(TokenExchangeError) as refused:
            await wrong.token("bob", subject)
    message = str(refused.value)
    assert message.startswith(f"token exchange for remote at {endpoint} was refused: HTTP 401 invalid_client")
    assert subject not in message and "wrong" not in message


async def test_an_api_key_caller_cannot_be_exchanged_and_is_told_why(tmp_path: Path) -> None:
    from mcpfleet.security.principal import Principal
    from mcpfleet.security.upstream_credentials import NoTokenToExchangeError, UpstreamCredentials

    config = TokenExchangeConfig(token_endpoint="http://127.0.0.1:9/token", client_id="c")
    exchanger = TokenExchanger("remote", config, client_id="c", client_secret=None)
    credentials = UpstreamCredentials({}, {"remote": exchanger}, None)
    with pytest.raises(NoTokenToExchangeError, match="'ci-bot' did not authenticate with a JWT"):
        await credentials.headers_for("remote", Principal("ci-bot", (), "api_key"))
