"""Shared by the backup tests: a fleet file in a temporary folder, archive members, polling."""

from __future__ import annotations

import asyncio
import tarfile
import time
from collections.abc import Callable
from pathlib import Path


def write_fleet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(f"home: {tmp_path / 'home'}\n{text}")
    return path


def members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``condition`` (something another process or task does), failing after ``within`` s."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}
