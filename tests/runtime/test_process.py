"""spawn: a stdio server's stdout read off its pipe, nothing lost before anyone reads."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from helpers import until
from mcpfleet.runtime.process import child_env, spawn, terminate

WRITER = """
import sys
sys.stdout.write("one\\n" + "x" * 300_000 + "\\ntwo")
sys.stdout.flush()
"""


async def test_spawn_keeps_what_stdout_says_before_anyone_reads(tmp_path: Path) -> None:
    child = await spawn([sys.executable, "-c", WRITER], env=child_env(), cwd=tmp_path)
    try:
        # 300 kB is more than the OS pipe holds: the child exits only because we read meanwhile,
        # and wait() returns only once the subprocess transport heard the pipe close.
        assert await asyncio.wait_for(child.wait(), 20) == 0
        assert child.stdout is None and child.lines.ended
        got: list[bytes] = []
        ends: list[BaseException | None] = []
        child.lines.attach(got.append, ends.append)
        assert got == [b"one\n", b"x" * 300_000 + b"\n", b"two"] and ends == [None]
    finally:
        await terminate(child, grace=1)


async def test_spawned_stdout_is_read_as_it_comes(tmp_path: Path) -> None:
    echo = "import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n"
    child = await spawn([sys.executable, "-c", echo], env=child_env(), cwd=tmp_path)
    got: list[bytes] = []
    ends: list[BaseException | None] = []
    child.lines.attach(got.append, ends.append)
    try:
        assert child.stdin is not None
        for count, word in enumerate((b"a", b"b"), 1):
            child.stdin.write(word + b"\n")
            await until(lambda n=count: len(got) >= n, 10)
        assert got == [b"A\n", b"B\n"] and ends == []
    finally:
        assert await terminate(child, grace=2) is not None
    assert ends == [None]
