"""The serving process's interpreter settings: start-up's heap frozen, a short GIL switch interval."""

from __future__ import annotations

import gc
import sys
import weakref

from mcpfleet import interpreter


def test_settle_freezes_what_is_alive_collects_cycles_first_and_shortens_the_switch() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    dead = weakref.ref(Node())  # garbage at once, but in a cycle
    assert dead() is not None
    kept = [Node() for _ in range(100)]
    interval = sys.getswitchinterval()
    try:
        interpreter.settle()
        assert gc.get_freeze_count() >= len(kept)  # the live ones are frozen
        assert dead() is None  # collected before the freeze, not frozen with the rest
        assert sys.getswitchinterval() == interpreter.SWITCH_INTERVAL
    finally:
        gc.unfreeze()
        sys.setswitchinterval(interval)
