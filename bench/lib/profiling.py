"""The gateway benchmark's ``--profile`` pass: mcpfleet's gateway at concurrency 64 under py-spy
(where it installs) and under cProfile, and their top functions."""

from __future__ import annotations

import asyncio
import io
import pstats
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from lib.load import TreeCpu, throughput
from lib.mcpclient import McpClient
from lib.peers import pyspy as pyspy_peer
from lib.targets import Log
from lib.targets import mcpfleet as mcpfleet_target


def top_cprofile(path: Path, n: int = 15) -> list[dict[str, Any]]:
    stats = pstats.Stats(str(path), stream=io.StringIO())
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{func} ({Path(file).name}:{line})",
                "calls": ncalls,
                "self_pct": round(100 * tottime / total, 1),
                "cum_pct": round(100 * cumtime / total, 1),
            }
        )
    rows.sort(key=lambda r: r["self_pct"], reverse=True)
    return rows[:n]


def top_pyspy(raw: Path, n: int = 15) -> dict[str, Any]:
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].rsplit("/", 1)[-1] if " (" in f else f
            for f in stack.split(";")
        ]
        samples = int(count)
        total += samples
        self_counts[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return {
        "samples": total,
        "self": [{"frame": f, "pct": round(100 * c / total, 1)} for f, c in self_counts.most_common(n)],
        "inclusive": [
            {"frame": f, "pct": round(100 * c / total, 1)} for f, c in inclusive.most_common(n * 2)
        ],
    }


async def profile_mcpfleet(tmp: Path, duration: float, log: Log) -> dict[str, Any]:
    """``py_spy`` (where py-spy installs) and ``cprofile``: each a c64 load of ``duration``
    seconds and the top functions under it."""
    out: dict[str, Any] = {}
    pyspy = pyspy_peer.binary(log)
    if pyspy.exists():
        running = await mcpfleet_target.start(tmp, log)
        try:
            raw = tmp / "pyspy.txt"
            spy = await asyncio.create_subprocess_exec(
                *[
                    str(pyspy),
                    "record",
                    "--pid",
                    str(running.pid),
                    "--rate",
                    "250",
                    "--duration",
                    str(int(duration) + 2),
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            await asyncio.sleep(1.0)
            clients = [await McpClient(running.url).open() for _ in range(64)]
            load = await throughput(clients, 10**9, duration, TreeCpu(running.pid))
            for c in clients:
                await c.aclose()
            _, err = await spy.communicate()
            out["py_spy"] = (
                {"load_c64": load, **top_pyspy(raw)}
                if raw.exists()
                else {"failed": err.decode(errors="replace")[-400:]}
            )
        finally:
            running.stop()
    prof = tmp / "gateway.prof"
    running = await mcpfleet_target.start(tmp, log, profile=prof)
    try:
        clients = [await McpClient(running.url).open() for _ in range(64)]
        load = await throughput(clients, 10**9, duration, TreeCpu(running.pid))
        for c in clients:
            await c.aclose()
    finally:
        running.stop()  # SIGTERM: the gateway writes its profile on the way out
    out["cprofile"] = {"load_c64_under_cprofile": load, "top_by_self_time": top_cprofile(prof)}
    return out
