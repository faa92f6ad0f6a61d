"""The overview's JSON: each server's state, instances, figures and chart from the samples."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.exceptions import ToolCallError

pytestmark = pytest.mark.timeout(60)


async def test_calls_show_up_as_rate_latency_and_chart(secured: Any) -> None:
    gateway = secured.gateway
    for i in range(5):
        await gateway.engine.call_tool("toy", "echo", {"text": str(i)})
    with pytest.raises(ToolCallError):
        await gateway.engine.call_tool("toy", "fail", {})
    gateway.dashboard.samples.take()
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["viewer"])
        data = (await http.get("/ui/api/overview")).json()
        page = await http.get("/ui")
    row = next(r for r in data["servers"] if r["server"] == "toy")
    assert row["state"] == "ready" and row["counts"] == [["ready", 1]] and row["instances"] == 1
    assert row["rate"] > 0 and row["p95_ms"] is not None and row["p50_ms"] <= row["p95_ms"]
    assert 0 < row["error_rate"] < 1  # the failed call, among six
    assert row["chart"]["rate"][-1][1] > 0 and row["chart"]["latency"][-1][1] is not None
    assert data["interval"] == 2.0
    assert 'data-server="toy"' in page.text and "/ui/static/app.js" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
