"""Who a request is made for: set for a block, and put back after it."""

from __future__ import annotations

import asyncio

from mcpfleet.percaller import acting_for, current_caller


async def caller_in_a_task() -> str | None:
    return current_caller.get()


async def test_acting_for_sets_the_caller_for_the_block_and_its_tasks() -> None:
    assert current_caller.get() is None
    with acting_for("alice"):
        assert current_caller.get() == "alice"
        assert await asyncio.create_task(caller_in_a_task()) == "alice"
        with acting_for(None):
            assert current_caller.get() is None
        assert current_caller.get() == "alice"
    assert current_caller.get() is None
