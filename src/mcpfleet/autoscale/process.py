"""CPU and memory of process trees (an instance and every process it started), through psutil.

    sampler = ProcessTreeSampler()
    usage = sampler.sample(instance.pid)     # TreeUsage(cpu_percent=..., rss_bytes=..., pids=...)

CPU is the tree's CPU time (user + system, every live process in it) over the wall time since
the previous sample of the same process, in percent of one core; a process seen for the first
time is measured over its whole life. Memory is the sum of the processes' resident set sizes
(shared pages count once per process, so a tree of forks reads high rather than low).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

__all__ = ["ProcessTreeSampler", "TreeUsage"]


@dataclass(frozen=True)
class TreeUsage:
    """One process tree at one moment."""

    root: int
    cpu_percent: float  # percent of one core since the previous sample
    rss_bytes: int
    pids: tuple[int, ...]  # the root first, then its descendants


@dataclass(frozen=True)
class _Seen:
    created: float  # psutil's create_time: with the pid, it names a process (pids are reused)
    cpu_seconds: float
    at: float  # time.monotonic() of the sample


class ProcessTreeSampler:
    """Samples process trees; keeps each process's last CPU time to measure the next interval."""

    def __init__(self) -> None:
        self._seen: dict[int, dict[int, _Seen]] = {}  # root pid -> pid -> last sample

    def sample(self, root: int) -> TreeUsage | None:
        """The tree under ``root`` now; None if ``root`` is gone."""
        try:
            leader = psutil.Process(root)
            processes = [leader, *leader.children(recursive=True)]
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            self._seen.pop(root, None)
            return None
        before = self._seen.get(root, {})
        seen: dict[int, _Seen] = {}
        cpu = 0.0
        rss = 0
        pids: list[int] = []
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    created = process.create_time()
                    resident = process.memory_info().rss
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue  # it ended (or is not ours to read) between listing and reading
            wall, now = time.time(), time.monotonic()
            used = times.user + times.system
            last = before.get(process.pid)
            if last is not None and last.created == created and now > last.at:
                share = (used - last.cpu_seconds) / (now - last.at)
            else:
                share = used / max(wall - created, 1e-3)
            seen[process.pid] = _Seen(created, used, now)
            cpu += max(share, 0.0) * 100
            rss += resident
            pids.append(process.pid)
        self._seen[root] = seen
        return TreeUsage(root, cpu, rss, tuple(pids))

    def retain(self, roots: set[int]) -> None:
        """Forget trees whose root is not in ``roots`` (instances that stopped)."""
        for root in self._seen.keys() - roots:
            del self._seen[root]


def machine_memory() -> int:
    """Bytes of memory in this machine."""
    return int(psutil.virtual_memory().total)
