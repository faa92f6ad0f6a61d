"""The playground calls tools as the logged-in principal, through the gateway's pipeline."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.timeout(60)

JSON = {"accept": "application/json"}


async def test_an_admin_calls_a_tool_and_sees_result_and_timing(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["admin"])
        page = await http.get("/ui/playground?tool=toy__echo")
        assert page.status_code == 200 and 'name="arg.text"' in page.text and "toy__pid" in page.text
        csrf = secured.csrf(page.text)
        reply = await http.post(
            "/ui/playground", data={"csrf": csrf, "tool": "toy__echo", "arg.text": "hello"}, headers=JSON
        )
        done = reply.json()
        assert reply.status_code == 200 and done["ms"] >= 0 and not done["is_error"]
        assert done["result"]["content"][0]["text"] == "hello" and done["arguments"] == {"text": "hello"}
        plain = await http.post("/ui/playground", data={"csrf": csrf, "tool": "toy__echo", "arg.text": "hi"})
        assert plain.status_code == 200 and "Done in" in plain.text  # without our script: the page again
    records = secured.gateway.audit.query(tool="echo")
    assert [(r.user, r.outcome) for r in records][:2] == [("admin-key", "success")] * 2


async def test_bad_arguments_are_refused_field_by_field(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["admin"])
        csrf = secured.csrf((await http.get("/ui/playground")).text)
        bad = await http.post(
            "/ui/playground", data={"csrf": csrf, "tool": "toy__sleep", "arg.seconds": "soon"}, headers=JSON
        )
        assert bad.status_code == 400 and bad.json()["problems"] == {"seconds": "must be a number"}
        unknown = await http.post("/ui/playground", data={"csrf": csrf, "tool": "toy__nope"}, headers=JSON)
        assert unknown.status_code == 404


async def test_the_access_rules_of_the_principal_apply(secured: Any) -> None:
    async with secured.client() as http:
        await secured.log_in(http, secured.keys["viewer"])
        csrf = secured.csrf((await http.get("/ui/playground")).text)
        reply = await http.post("/ui/playground", data={"csrf": csrf, "tool": "toy__pid"}, headers=JSON)
        assert reply.status_code == 200 and "execute" in reply.json()["error"].lower()
    records = secured.gateway.audit.query(tool="pid")
    assert [(r.user, r.outcome) for r in records] == [("viewer-key", "denied")]
