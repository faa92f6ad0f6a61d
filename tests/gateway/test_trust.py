"""What the gateway builds for trust from the fleet file: nothing when nothing asks for it."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry

from helpers import fleet, own_server
from mcpfleet.config import RemotePackage, ServerSpec
from mcpfleet.gateway.trust import trust_for
from mcpfleet.gateway.views import ListCache
from mcpfleet.manager import MCPManager
from mcpfleet.security.user_secrets import KEY_ENV, generate_key


async def test_pin_off_and_no_user_secrets_build_nothing(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", toy=own_server("toy.py", pin="off"))
    async with MCPManager(config) as manager:
        cache = ListCache(manager)
        trust = trust_for(manager, cache, [], CollectorRegistry())
        assert trust.middlewares() == [] and trust.database is None and cache.on_tools is None
        await trust.aclose()
    assert not (tmp_path / "home" / "fleet.db").exists()


async def test_pins_and_user_secrets_each_add_their_middleware(tmp_path: Path) -> None:
    remote = ServerSpec(
        package=RemotePackage(url="http://127.0.0.1:9/mcp"), headers={"Authorization": "${user:t}"}
    )
    config = fleet(tmp_path / "home", toy=own_server("toy.py", pin="strict"), remote=remote)
    async with MCPManager(config, environ={**os.environ, KEY_ENV: generate_key()}) as manager:
        cache = ListCache(manager)
        trust = trust_for(manager, cache, [], CollectorRegistry())
        assert [m.name for m in trust.middlewares()] == ["pins", "credentials"]
        assert cache.on_tools is not None and trust.pins is not None
        assert trust.pins.policy("toy") == "strict" and trust.pins.policy("remote") == "warn"
        await trust.aclose()
