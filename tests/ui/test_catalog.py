"""The catalog page: search the built-in catalog; install a server with its progress."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)


async def test_search_then_install_with_progress(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["admin"])
        page = await http.get("/ui/catalog?q=memory")
        assert page.status_code == 200 and "@modelcontextprotocol/server-memory" in page.text
        reply = await http.post("/ui/catalog/install", data={"csrf": secured.csrf(page.text), "name": "toy"})
        assert reply.status_code == 303
        for _ in range(400):
            installs = (await http.get("/ui/api/installs")).json()["installs"]
            if installs[0]["outcome"] is not None:
                break
            await asyncio.sleep(0.05)
    assert installs[0]["name"] == "toy" and installs[0]["outcome"] == "installed"
    assert installs[0]["fraction"] == 1.0 and installs[0]["steps"]
