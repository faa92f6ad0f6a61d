"""ConnectionPool in front of real remote servers (our work_server over HTTP on loopback)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from helpers import fleet, free_port, own_server, serve_http, until
from mcpfleet.config import RemotePackage, ServerSpec
from mcpfleet.loadbalancer import LoadBalancer
from mcpfleet.manager import MCPManager
from mcpfleet.pooling import ConnectionPool, PoolTimeoutError

pytestmark = pytest.mark.timeout(60)


def remote(url: str) -> ServerSpec:
    # The session protocol: a restarted server forgets its sessions, so stale ones really break.
    return ServerSpec(package=RemotePackage(url=url), protocol="session")


def text(result: dict) -> str:  # type: ignore[type-arg]
    return "".join(c.get("text", "") for c in result["content"])


async def test_guide_pool_with_the_manager(tmp_path: Path) -> None:
    async with serve_http("work_server.py", "--http", "{port}") as server:
        pool = ConnectionPool(
            min_connections=2,
            max_connections=5,
            connection_timeout=10,
            idle_timeout=300,
            max_lifetime=3600,
            validation_interval=60,
        )
        async with MCPManager(
            fleet(tmp_path / "home", work=remote(server.url)), connection_pool=pool, auto_install=True
        ) as manager:
            await manager.start_server("work")
            calls = [manager.execute_tool("work", "lookup", {"key": str(i), "delay": 0.2}) for i in range(20)]
            gathered = asyncio.gather(*calls)
            for _ in range(100):  # until the first five sessions are open and busy
                await asyncio.sleep(0.01)
                if pool.get_stats()["active"] == 5:
                    break
            busy = pool.get_stats()
            assert busy["active"] == 5 and busy["waiting"] == 15
            results = await gathered
            assert [text(r).split("@")[0] for r in results] == [str(i) for i in range(20)]
            stats = pool.get_stats()
            assert stats["total_created"] == 5 and stats["total_closed"] == 0
            assert stats["active"] == 0 and stats["waiting"] == 0 and stats["idle"] == 5
        assert pool.get_stats()["total_closed"] == 5  # closed with the manager


async def test_a_broken_connection_is_never_handed_out(tmp_path: Path) -> None:
    port = free_port()
    pool = ConnectionPool(min_connections=0, max_connections=2, validation_interval=0)
    async with MCPManager(fleet(tmp_path / "home"), connection_pool=pool, auto_install=True) as manager:
        async with serve_http("work_server.py", "--http", "{port}", port=port) as server:
            await manager.apply_config("work", remote(server.url))
            assert text(await manager.execute_tool("work", "lookup", {"key": "a"})).startswith("a@")
        async with serve_http("work_server.py", "--http", "{port}", port=port):  # same URL, new process
            assert text(await manager.execute_tool("work", "lookup", {"key": "b"})).startswith("b@")
        stats = pool.get_stats()
        assert stats["failed_validations"] == 1 and stats["total_created"] == 2 and stats["total_closed"] == 1


async def test_lifetime_idle_timeout_and_minimum(tmp_path: Path) -> None:
    async with serve_http("work_server.py", "--http", "{port}") as server:
        pool = ConnectionPool(min_connections=1, max_connections=4, idle_timeout=0.3, max_lifetime=60)
        lb = LoadBalancer()
        lb.add_instance("work", "w-1", server.url, pool=pool)
        await asyncio.gather(
            *(lb.get_instance("work").execute("lookup", {"key": "k", "delay": 0.1}) for _ in range(4))
        )
        assert pool.get_stats()["idle"] == 4
        await asyncio.sleep(0.8)  # idle beyond idle_timeout: closed down to min_connections
        assert pool.get_stats()["idle"] == 1 and pool.get_stats()["total_closed"] == 3

        short = ConnectionPool(min_connections=0, max_connections=1, max_lifetime=0.2)
        lb.add_instance("work", "w-1", server.url, pool=short)
        await lb.get_instance("work").execute("lookup", {"key": "k"})
        await asyncio.sleep(0.3)
        await lb.get_instance("work").execute("lookup", {"key": "k"})  # recycled, not reused
        assert short.get_stats()["total_created"] == 2 and short.get_stats()["total_closed"] >= 1
        await lb.aclose()
        await pool.aclose()
        await short.aclose()


async def test_exhausted_pool_says_what_to_do() -> None:
    async with serve_http("work_server.py", "--http", "{port}") as server:
        pool = ConnectionPool(min_connections=0, max_connections=1, connection_timeout=0.3)
        lb = LoadBalancer()
        lb.add_instance("work", "w-1", server.url, pool=pool)
        target = lb.get_instance("work")
        slow = asyncio.create_task(target.execute("lookup", {"key": "k", "delay": 2}))
        await asyncio.sleep(0.5)
        with pytest.raises(PoolTimeoutError, match="raise max_connections or connection_timeout"):
            await target.execute("lookup", {"key": "k"})
        assert text(await slow).startswith("k@")
        await lb.aclose()
        await pool.aclose()


def test_bad_settings_are_refused_with_every_problem() -> None:
    with pytest.raises(ValueError, match="min_connections must be between 0 and max_connections=2") as info:
        ConnectionPool(min_connections=3, max_connections=2, idle_timeout=0)
    assert "idle_timeout must be a positive number" in str(info.value)


async def test_the_pool_counts_stdio_instances_too(tmp_path: Path) -> None:
    pool = ConnectionPool()
    config = fleet(tmp_path / "home", work=own_server("work_server.py", instances=2))
    async with MCPManager(config, connection_pool=pool, auto_install=True) as manager:
        await manager.start_server("work")
        calls = [
            asyncio.create_task(manager.execute_tool("work", "lookup", {"key": str(i), "delay": 0.5}))
            for i in range(4)
        ]
        await until(lambda: pool.get_stats()["active"] == 4, within=10)
        busy = pool.get_stats()
        await asyncio.gather(*calls)
        for i in range(40):
            await manager.execute_tool("work", "lookup", {"key": str(i)})
        stats = pool.get_stats()
    assert busy["total_created"] == 2 and busy["idle"] == 0
    assert {e["kind"] for e in busy["endpoints"].values()} == {"stdio"}
    assert stats["active"] == 0 and stats["idle"] == 2
    assert pool.get_stats()["total_closed"] == 2  # stopped with the manager
