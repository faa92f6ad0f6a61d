"""What every installer does, and how an installed server is launched."""

from __future__ import annotations

import asyncio
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mcpfleet.config import NpmPackage, PypiPackage, ServerSpec
from mcpfleet.exceptions import ToolchainMissingError
from mcpfleet.home import FleetHome
from mcpfleet.install.lock import LockRecord

__all__ = ["BaseInstaller", "LaunchSpec", "Report", "ToolResult", "find_tool", "run_tool"]

Report = Callable[[str, float | None], None]


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one instance: an argv for a stdio child process, or a URL."""

    command: tuple[str, ...] = ()
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "http" if self.url is not None else "stdio"


@dataclass(frozen=True)
class ToolResult:
    code: int
    stdout: str
    stderr: str

    def tail(self, lines: int = 12) -> str:
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


def find_tool(name: str, server: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ToolchainMissingError(server, f"`{name}` is not on PATH; {hint}")
    return path


async def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> ToolResult:
    """Run an installer tool (npm, uv, docker) with its output captured.

    It leads its own process group (npm runs node, uv runs builds): past ``timeout`` (then
    :class:`TimeoutError`), on cancellation, and after it exits, the whole group is killed.
    """
    # Here, not at the top: mcpfleet.runtime imports this package.
    from mcpfleet.runtime.process import kill_group, start_process, terminate

    process = await start_process(
        argv,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:
        kill_group(process.pid)  # at once: a second cancellation must not leave it running
        raise
    finally:
        await asyncio.shield(terminate(process, grace=1.0))  # reaps it; kills what it left behind
    return ToolResult(process.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


class BaseInstaller(ABC):
    """Puts one kind of package on disk and says how to run it."""

    kind: str

    @abstractmethod
    def is_installed(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> bool:
        """The lock says it is installed as the spec asks, and its files are really there."""

    @abstractmethod
    async def install(
        self, server: str, spec: ServerSpec, home: FleetHome, *, locked: LockRecord | None, report: Report
    ) -> LockRecord:
        """Install (``locked``: an earlier record whose exact version to reinstall)."""

    @abstractmethod
    def launch(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> LaunchSpec:
        """How to start it; ``spec.args`` are already resolved."""

    @staticmethod
    def recorded(spec: ServerSpec, record: LockRecord | None) -> bool:
        """The lock's record is an install of this package, version, constraints and overrides."""
        package = spec.package
        constraints = package.constraints if isinstance(package, PypiPackage) else ()
        overrides = package.overrides if isinstance(package, NpmPackage) else {}
        return record is not None and record.matches(
            package.type, package.identifier, package.version, constraints, overrides
        )

    @staticmethod
    def new_slot(home: FleetHome, server: str) -> Path:
        """A fresh folder to install into. Installs never move (venv scripts hold absolute
        paths): the lock points at the slot, and older slots go only once the lock has switched
        (``install`` leaves them; whoever switches the lock calls :meth:`retire_others`), so a
        rolling update runs the old slot and the new one side by side."""
        slot = home.server_dir(server) / f"i{time.time_ns()}"
        slot.mkdir(parents=True)
        return slot

    @classmethod
    def retire_others(cls, home: FleetHome, server: str, keep: LockRecord | None) -> None:
        """Remove the server's slots other than ``keep``'s (the record the lock now points at)."""
        kept = cls.slot_of(keep)
        for other in home.server_dir(server).glob("i*"):
            if other != kept:
                shutil.rmtree(other, ignore_errors=True)

    @classmethod
    def discard(cls, home: FleetHome, server: str, record: LockRecord | None) -> None:
        """Remove the slot of an install the lock never pointed at (a failed rolling update's)."""
        slot = cls.slot_of(record)
        if slot is not None and slot.parent == home.server_dir(server) and slot.name.startswith("i"):
            shutil.rmtree(slot, ignore_errors=True)

    @staticmethod
    def slot_of(record: LockRecord | None) -> Path | None:
        path = record.detail.get("path") if record is not None else None
        return Path(path) if path else None
