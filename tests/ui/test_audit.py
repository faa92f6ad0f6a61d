"""The audit page: filters, pages of 50, and the chains' verification state."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mcpfleet.ui.audit import PAGE_SIZE

pytestmark = pytest.mark.timeout(60)


async def test_filter_and_page_through_calls(secured: Any) -> None:
    gateway = secured.gateway
    admin = next(k for k in secured.store.list_keys() if k.name == "admin-key")
    principal = gateway.authenticator.keys.verify(secured.keys["admin"])
    assert principal.key_id == admin.id
    for i in range(PAGE_SIZE + 5):
        await gateway.engine.call_tool(
            "toy", "echo", {"text": f"n{i}", "password": "hunter2"}, principal=principal
        )
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["admin"])
        first = await http.get("/ui/audit?server=toy&tool=echo&outcome=success")
        rows = re.findall(r'<tr data-outcome="success">', first.text)
        assert len(rows) == PAGE_SIZE and "Older" in first.text and "n54" in first.text
        assert "hunter2" not in first.text and "OK: " in first.text  # masked; the chain verifies
        second = await http.get("/ui/audit?server=toy&tool=echo&outcome=success&page=2")
        assert len(re.findall(r'<tr data-outcome="success">', second.text)) == 5 and "Newer" in second.text
        none = await http.get("/ui/audit?user=nobody")
        assert "No records match" in none.text
        later = await http.get("/ui/audit?since=2999-01-01T00:00")
        assert "No records match" in later.text
