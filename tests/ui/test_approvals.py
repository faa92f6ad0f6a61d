"""Approvals on the dashboard: a pending request of an agent, approved by an admin."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.gateway.ondemand import Approval

pytestmark = pytest.mark.timeout(60)


async def test_an_admin_approves_what_an_agent_asked_for(secured: Any) -> None:
    on_demand = secured.gateway.on_demand
    # What OnDemand itself files while an agent's fleet__add_server waits for an operator.
    asked = Approval("a1b2", "weather", "an agent wants the weather server")
    on_demand.pending[asked.id] = asked
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["admin"])
        page = await http.get("/ui/approvals")
        assert "weather" in page.text and "an agent wants the weather server" in page.text
        reply = await http.post(
            "/ui/approvals/a1b2", data={"csrf": secured.csrf(page.text), "approve": "yes"}
        )
        assert reply.status_code == 303 and "weather%20approved" in reply.headers["location"]
        assert asked.decision.result() is True
        unknown = await http.post(
            "/ui/approvals/zzzz", data={"csrf": secured.csrf(page.text), "approve": "no"}
        )
        assert "problem=" in unknown.headers["location"]
