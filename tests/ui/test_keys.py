"""API keys on the dashboard: a new key is shown once and works; the list never shows a key."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)


async def test_a_created_key_is_shown_once_and_works(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["admin"])
        csrf = secured.csrf((await http.get("/ui/keys")).text)
        made = await http.post(
            "/ui/keys", data={"csrf": csrf, "name": "ci-bot", "role": "viewer", "expires": "30d"}
        )
        found = re.search(r'id="created-key" class="secret" readonly value="(mcpf_[^"]+)"', made.text)
        assert made.status_code == 200 and found is not None
        key = found.group(1)
        listed = await http.get("/ui/keys")
        assert "ci-bot" in listed.text and key not in listed.text and "created-key" not in listed.text
        bad = await http.post(
            "/ui/keys", data={"csrf": csrf, "name": "x", "role": "viewer", "expires": "soon"}
        )
        assert bad.status_code == 400 and "is not a duration" in bad.text
    info = next(k for k in secured.store.list_keys() if k.name == "ci-bot")
    assert info.role == "viewer" and info.expires_at is not None
    async with secured.client() as http:
        assert (await secured.log_in(http, key)).status_code == 303
