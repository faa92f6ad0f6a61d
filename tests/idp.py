"""Test doubles that are real: an OIDC identity provider served on loopback, signing keys, a clock
that tests move (import as ``idp``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from helpers import free_port

AUDIENCE = "https://fleet.test/mcp"


@dataclass
class SigningKey:
    kid: str
    private: Any
    alg: str

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith(("RS", "PS")) else ECAlgorithm
        data: dict[str, Any] = algorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**data, "kid": self.kid, "use": "sig", "alg": self.alg}

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **headers})


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256")


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, ec.generate_private_key(ec.SECP256R1()), "ES256")


@dataclass
class Issuer:
    """An OIDC identity provider: discovery document and JWKS, keys switchable at run time."""

    url: str
    keys: list[SigningKey]
    hits: dict[str, int] = field(default_factory=lambda: {"discovery": 0, "jwks": 0})

    def claims(self, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.url, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300, **extra}

    def app(self) -> Starlette:
        async def discovery(_: Request) -> JSONResponse:
            self.hits["discovery"] += 1
            return JSONResponse({"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})

        async def jwks(_: Request) -> JSONResponse:
            self.hits["jwks"] += 1
            return JSONResponse({"keys": [k.jwk() for k in self.keys]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
            ]
        )


@contextlib.asynccontextmanager
async def serve_issuer(keys: list[SigningKey]) -> AsyncIterator[Issuer]:
    """An :class:`Issuer` with ``keys`` on a free loopback port, run by uvicorn in this event loop."""
    port = free_port()
    provider = Issuer(f"http://127.0.0.1:{port}", keys)
    server = uvicorn.Server(
        uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(250):
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        raise RuntimeError(f"the identity provider did not start on port {port}")
    try:
        yield provider
    finally:
        server.should_exit = True
        await task
