"""The fleet process's collector settings: what start-up built is frozen out of full collections."""

from __future__ import annotations

import gc
import weakref

from mcpfleet import heap


def test_settle_freezes_what_is_alive_and_collects_cycles_first() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    dead = weakref.ref(Node())  # garbage at once, but in a cycle
    assert dead() is not None
    kept = [Node() for _ in range(100)]
    try:
        heap.settle()
        assert gc.get_freeze_count() >= len(kept)  # the live ones are frozen
        assert dead() is None  # collected before the freeze, not frozen with the rest
    finally:
        gc.unfreeze()
