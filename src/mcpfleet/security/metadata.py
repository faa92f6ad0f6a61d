"""OAuth 2.0 Protected Resource Metadata (RFC 9728) and 401 challenges, as MCP authorization asks.

An MCP client that gets ``401`` reads ``resource_metadata`` from the ``WWW-Authenticate``
header, fetches that document, and learns there which authorization server issues tokens for
this gateway. The gateway mounts :func:`metadata_routes` and answers failed authentication
with :func:`unauthorized_response`:

    routes = [*metadata_routes(config.auth), Route("/mcp", ...)]
    ...
    except AuthenticationError as exc:
        return unauthorized_response(config.auth, exc, request)

The metadata is served at ``/.well-known/oauth-protected-resource`` followed by the path of
the resource (``/mcp``), the RFC 9728 location, and at the bare well-known path too, which
clients fall back to. Without ``auth.resource`` the resource is ``<the request's base URL>mcp``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcpfleet.exceptions import AuthenticationError
from mcpfleet.security.config import AuthConfig

__all__ = [
    "WELL_KNOWN",
    "metadata_routes",
    "metadata_url",
    "protected_resource_metadata",
    "resource_of",
    "unauthorized_response",
    "www_authenticate",
]

WELL_KNOWN = "/.well-known/oauth-protected-resource"
_UNQUOTABLE = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")  # RFC 6750 error_description charset


def resource_of(config: AuthConfig, request: Request) -> str:
    """The resource URL: ``auth.resource``, else ``/mcp`` on the URL the request came to."""
    if config.resource:
        return config.resource
    return str(request.base_url).rstrip("/") + "/mcp"


def metadata_url(resource: str) -> str:
    """Where the metadata of ``resource`` lives: the well-known path inserted before its path."""
    parts = urlsplit(resource)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, WELL_KNOWN + path, "", ""))


def protected_resource_metadata(config: AuthConfig, resource: str) -> dict[str, Any]:
    """The RFC 9728 document for ``resource``."""
    servers = list(config.authorization_servers)
    if not servers and config.jwt is not None and config.jwt.issuer:
        servers = [config.jwt.issuer]
    document: dict[str, Any] = {"resource": resource}
    if servers:
        document["authorization_servers"] = servers
    document["bearer_methods_supported"] = ["header"]
    if config.scopes_supported:
        document["scopes_supported"] = list(config.scopes_supported)
    document["resource_name"] = "mcpfleet gateway"
    return document


def www_authenticate(config: AuthConfig, error: AuthenticationError | None, resource: str) -> str:
    """The ``WWW-Authenticate`` value of a 401: where to find the metadata and, when a token was
    sent and refused, ``error="invalid_token"`` with the reason."""
    params = []
    if config.accepts_jwt:
        params.append(f'resource_metadata="{metadata_url(resource)}"')
    else:
        params.append('realm="mcpfleet"')  # API keys only: there is no OAuth server to point at
    if config.scopes_supported:
        params.append(f'scope="{_quotable(" ".join(config.scopes_supported))}"')
    if error is not None and error.token_given:
        params.append('error="invalid_token"')
        params.append(f'error_description="{_quotable(str(error))}"')
    return "Bearer " + ", ".join(params)


def unauthorized_response(config: AuthConfig, error: AuthenticationError, request: Request) -> JSONResponse:
    """A 401 for ``error``, with the challenge and a JSON body that says what went wrong."""
    resource = resource_of(config, request)
    body = {
        "error": "invalid_token" if error.token_given else "unauthorized",
        "error_description": str(error),
    }
    return JSONResponse(
        body, status_code=401, headers={"WWW-Authenticate": www_authenticate(config, error, resource)}
    )


def metadata_routes(config: AuthConfig) -> list[Route]:
    """Starlette routes serving the metadata document (GET)."""

    async def endpoint(request: Request) -> JSONResponse:
        resource = resource_of(config, request)
        return JSONResponse(
            protected_resource_metadata(config, resource), headers={"Cache-Control": "max-age=3600"}
        )

    path = urlsplit(config.resource).path.rstrip("/") if config.resource else "/mcp"
    paths = dict.fromkeys([WELL_KNOWN + path, WELL_KNOWN])
    return [Route(p, endpoint, methods=["GET"]) for p in paths]


def _quotable(text: str) -> str:
    return _UNQUOTABLE.sub("'", text.replace('"', "'"))
