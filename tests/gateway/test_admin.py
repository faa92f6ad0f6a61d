"""The admin API over real HTTP on loopback: each server's state in /api/v1/status and /metrics, and
/readyz as gateway.readiness says (all, any, or named servers), with the reasons."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import fleet, own_server, serve_gateway, until
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_failing_servers_show_their_state_and_readiness_follows_the_rule(tmp_path: Path) -> None:
    config = fleet(
        tmp_path / "home",
        toy=own_server("toy.py"),
        crashing=own_server("toy.py", "--mode", "exit"),
        ghost=own_server("toy.py"),  # never installed
        later=own_server("toy.py", instances=0),  # on demand: idle until asked
    )
    async with MCPManager(config) as manager:
        await manager.install("toy")
        await manager.install("crashing")
        started = await manager.start_all()
        assert started["toy"] == "ready" and started["crashing"] != "ready" and started["ghost"] != "ready"
        async with serve_gateway(manager) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            # The gateway's health monitor tries it again at once, then not for 10 s (its interval).
            await until(lambda: manager.server_state("crashing").next_try is not None)
            rows = {row["server"]: row for row in (await http.get("/api/v1/status")).json()["servers"]}
            assert {name: row["state"] for name, row in rows.items()} == {
                "toy": "ready",
                "crashing": "backing_off",
                "ghost": "gave_up",
                "later": "idle",
            }
            assert rows["toy"]["last_error"] is None and rows["toy"]["failed"] is None
            assert rows["toy"]["instances"][0]["phase"] == "ready"
            assert rows["toy"]["instances"][0]["state"] == "ready"  # the field it always had
            assert "fatal: missing configuration" in rows["crashing"]["last_error"]
            assert rows["crashing"]["failed"] is None  # backing off: not given up on
            ghost = rows["ghost"]
            assert ghost["failed"] == ghost["last_error"]
            assert "not installed; run `mcpfleet install ghost`" in ghost["last_error"]
            assert {"restarts", "next_try"} <= ghost.keys()

            metrics = (await http.get("/metrics")).text
            state = samples(metrics, "mcp_server_state")
            assert state[(("server", "ghost"), ("state", "gave_up"))] == 1
            assert state[(("server", "ghost"), ("state", "ready"))] == 0
            assert state[(("server", "crashing"), ("state", "backing_off"))] == 1
            assert state[(("server", "toy"), ("state", "ready"))] == 1
            assert sum(v for (server, _), v in state.items() if server == ("server", "later")) == 1
            restarts = samples(metrics, "mcp_server_restarts_total")
            assert restarts[(("server", "toy"),)] == 0 and restarts[(("server", "crashing"),)] == 1

            ready = await http.get("/readyz")  # all, the default: two of three are not ready
            assert ready.status_code == 503
            assert ready.json()["readiness"] == "all"
            not_ready = ready.json()["not_ready"]
            assert set(not_ready) == {"crashing", "ghost"}
            assert not_ready["ghost"].startswith("gave up: not installed; run `mcpfleet install ghost`")
            assert not_ready["crashing"].startswith("backing off (next try in ")
            assert "fatal: missing configuration" in not_ready["crashing"]

            manager.config.gateway.readiness = "any"
            ready = await http.get("/readyz")
            assert ready.status_code == 200 and ready.json()["ready"] is True
            assert set(ready.json()["not_ready"]) == {"crashing", "ghost"}  # still said

            manager.config.gateway.readiness = ["toy"]
            assert (await http.get("/readyz")).status_code == 200
            manager.config.gateway.readiness = ["toy", "ghost"]
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and list(ready.json()["not_ready"]) == ["ghost"]

            await manager.stop_server("toy")
            manager.config.gateway.readiness = "any"
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["not_ready"]["toy"] == "stopped"
            stopped = {r["server"]: r for r in (await http.get("/api/v1/status")).json()["servers"]}["toy"]
            assert stopped["state"] == "stopped" and stopped["next_try"] is None
