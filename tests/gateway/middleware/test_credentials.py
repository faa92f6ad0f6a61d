"""The credentials middleware on its own: the caller's headers are set for the forwarding step
only, for the server they belong to; a missing secret is a tool error for an MCP client and an
exception for the admin API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcpfleet.database import Database
from mcpfleet.gateway.context import ClientState, ToolCall
from mcpfleet.gateway.middleware.credentials import CredentialsMiddleware
from mcpfleet.protocol.credentials import caller_headers
from mcpfleet.security.principal import Principal
from mcpfleet.security.upstream_credentials import MissingUserSecretError, UpstreamCredentials
from mcpfleet.security.user_secrets import SecretKey, UserSecretStore, generate_key


async def test_headers_are_set_for_the_call_and_its_server_only(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/fleet.db")
    store = UserSecretStore(database, SecretKey.from_text(generate_key(), source="test"))
    store.set("alice", "tok", "alice-$${not-a-template}")
    credentials = UpstreamCredentials({"gh": {"Authorization": "Bearer ${user:tok}"}}, {}, store)
    middleware = CredentialsMiddleware(credentials)
    client = ClientState("2026-07-28", stateless=True)
    seen: list[Any] = []

    async def upstream(call: ToolCall) -> dict[str, Any]:
        seen.append(caller_headers.get())
        return {"content": []}

    alice = Principal("alice", (), "api_key")
    await middleware.on_call_tool(ToolCall("gh", "t", {}, client, "r1", principal=alice), upstream)
    await middleware.on_call_tool(ToolCall("other", "t", {}, client, "r2", principal=alice), upstream)
    assert seen == [{"gh": {"Authorization": "Bearer alice-$${not-a-template}"}}, None]
    assert caller_headers.get() is None  # reset after the call

    bob = Principal("bob", (), "api_key")
    refused = await middleware.on_call_tool(ToolCall("gh", "t", {}, client, "r3", principal=bob), upstream)
    assert (
        refused["isError"] is True
        and "`mcpfleet secrets set --principal bob tok`" in refused["content"][0]["text"]
    )
    with pytest.raises(MissingUserSecretError):
        await middleware.on_call_tool(
            ToolCall("gh", "t", {}, client, "r4", principal=bob, via="admin"), upstream
        )
    database.dispose()
