"""Audit test helpers (import as `audit_helpers`): sealed records, a store whose writes can be
held, a throwaway PostgreSQL we may stop, and waiting on conditions."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import free_port
from mcpfleet.audit import AuditRecord, SqliteAuditStore
from mcpfleet.audit.chain import link
from mcpfleet.audit.records import GENESIS

PG_URL = os.environ.get("MCPFLEET_TEST_PG", "postgresql://127.0.0.1:5432/test")


def wait_for(condition: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s")
        time.sleep(0.01)


class HeldStore(SqliteAuditStore):
    """A real SQLite store whose writes wait while ``hold`` is clear (a database stuck on a lock)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.hold = threading.Event()
        self.hold.set()
        self.waiting = threading.Event()

    def write(self, records: Sequence[AuditRecord]) -> None:
        if not self.hold.is_set():
            self.waiting.set()
            self.hold.wait(30)
        super().write(records)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


class ThrowawayPostgres:
    """A PostgreSQL of our own in a temporary folder, on a free port; only ever stopped by its pg_ctl."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            pytest.skip("initdb/pg_ctl not found (install the PostgreSQL server binaries)")
        self.pg_ctl = pg_ctl
        self.port = free_port()
        # initdb refuses to run as root: then the cluster belongs to the postgres user.
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.root = Path(tempfile.mkdtemp(prefix="mcpfleet-pg-"))
        if self.as_user:
            shutil.chown(self.root, "postgres")
        self.data = self.root / "data"
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        options = f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port}"
        self._run(
            self.pg_ctl, "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o", options, "start"
        )

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)


def sealed(chain: str, entries: Sequence[dict[str, Any]], start: datetime | None = None) -> list[AuditRecord]:
    """Records of one chain with correct hashes; entry i is at ``start + i`` seconds."""
    start = start or datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    records, prev = [], GENESIS
    for seq, entry in enumerate(entries):
        fields = {
            "id": uuid.uuid4().hex,
            "time": start + timedelta(seconds=seq),
            "outcome": "success",
            **entry,
        }
        draft = AuditRecord(chain=chain, seq=seq, prev_hash=prev, hash="", **fields)
        digest = link(prev, chain, seq, draft.content())
        records.append(replace(draft, hash=digest))
        prev = digest
    return records
