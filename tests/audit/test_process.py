"""writer="process": the audit log sealed and written by a child process, nothing accepted lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from audit_helpers import PG_URL, HeldStore
from helpers import until
from mcpfleet.audit import AuditLogger, PostgresAuditStore, SqliteAuditStore
from mcpfleet.audit.masking import MASK
from mcpfleet.config import FleetConfig
from mcpfleet.exceptions import AuditError

pytestmark = pytest.mark.timeout(60)


def _child_pid(audit: AuditLogger) -> int:
    audit.chain  # noqa: B018 - waits until the audit process runs
    proc = audit._child._proc if audit._child is not None else None
    assert proc is not None
    return proc.pid


def psutil_wait_stopped(pid: int) -> None:
    """Until ``pid`` is stopped: a signal is delivered when the process next runs, not at kill()."""
    process = psutil.Process(pid)
    for _ in range(500):
        if process.status() == psutil.STATUS_STOPPED:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


def _reader(path: Path) -> AuditLogger:
    """A logger of its own (thread writer) on the same database, to read what was stored."""
    return AuditLogger(store=SqliteAuditStore(path))


def test_records_go_through_the_process_in_order_and_verify(tmp_path: Path) -> None:
    audit = AuditLogger(store=SqliteAuditStore(tmp_path / "a.db"), writer="process")
    for i in range(200):
        audit.submit(server="fs", tool="read", params={"i": i, "password": "hunter2"}, user="ann")
    sealed = audit.record(server="fs", tool="write", params={"path": "/x"})
    assert sealed.seq == 200 and sealed.chain == audit.chain  # after everything submitted before it
    assert audit.flush(10)
    stats = audit.stats
    assert (stats.recorded, stats.written, stats.queue_depth) == (201, 201, 0)
    records = audit.query(limit=None)
    assert len(records) == 201
    by_seq = sorted(records, key=lambda r: r.seq)
    assert [r.params["i"] for r in by_seq[:200]] == list(range(200))
    assert by_seq[0].params["password"] == MASK  # masked in the audit process
    assert audit.verify().ok
    pid = _child_pid(audit)
    assert audit.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(AuditError, match="closed"):
        audit.submit(server="fs", tool="read")


def test_a_killed_audit_process_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    audit = AuditLogger(store=SqliteAuditStore(tmp_path / "a.db"), writer="process")
    first_chain = audit.chain
    for i in range(100):
        audit.submit(server="fs", tool="stored", params={"i": i})
    assert audit.flush(10)
    pid = _child_pid(audit)
    os.kill(pid, signal.SIGSTOP)  # what comes now waits in its pipe, never read
    psutil_wait_stopped(pid)
    for i in range(50):
        audit.submit(server="fs", tool="unread", params={"i": i})
    assert audit.stats.queue_depth == 50
    os.kill(pid, signal.SIGKILL)
    for i in range(50):
        audit.submit(server="fs", tool="after", params={"i": i})
    assert audit.flush(20)
    assert audit.chain != first_chain  # a new process, a new chain
    records = audit.query(limit=None)
    for tool, count in (("stored", 100), ("unread", 50), ("after", 50)):
        assert sorted(r.params["i"] for r in records if r.tool == tool) == list(range(count))
    assert len(records) == 200  # given again, not twice
    assert audit.verify().ok
    assert audit.stats.written == 200 and audit.stats.queue_depth == 0
    audit.close()


def test_records_wait_in_the_spill_file_when_no_process_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot_start(*args: object, **kwargs: object) -> None:  # stands in for a machine out of processes
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", cannot_start)
    spill = tmp_path / "spill.jsonl"
    audit = AuditLogger(store=SqliteAuditStore(tmp_path / "a.db"), writer="process", spill_file=spill)
    for i in range(10):
        audit.submit(server="fs", tool="read", params={"i": i, "token": "t0k3n-value"})
    assert audit.stats.spilled == 10
    assert not audit.close()  # not in the store yet
    monkeypatch.undo()
    later = AuditLogger(store=SqliteAuditStore(tmp_path / "a.db"), spill_file=spill)  # replays the file
    assert later.flush(10)
    records = later.query(limit=None)
    assert sorted(r.params["i"] for r in records) == list(range(10))
    assert records[0].params["token"] == MASK
    assert later.verify().ok
    later.close()


def test_the_audit_process_stores_what_it_has_when_its_gateway_dies(tmp_path: Path) -> None:
    database = tmp_path / "a.db"
    script = textwrap.dedent(f"""
        import os
        from mcpfleet.audit import AuditLogger, SqliteAuditStore
        audit = AuditLogger(store=SqliteAuditStore({str(database)!r}), writer="process", flush_interval=30)
        for i in range(300):
            audit.submit(server="fs", tool="read", params={{"i": i}})
        print(audit._child._proc.pid, flush=True)
        os._exit(0)  # no close(): the audit process sees its stdin end
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    child = int(done.stdout.split()[0])
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(child).wait(30)
    reader = _reader(database)
    assert len(reader.query(limit=None)) == 300
    assert reader.verify().ok
    reader.close()


async def test_submit_on_a_loop_hands_over_a_few_turns_at_once(tmp_path: Path) -> None:
    audit = AuditLogger(log_file=tmp_path / "audit.jsonl", writer="process")
    for i in range(30):
        audit.submit(server="fs", tool="read", params={"i": i})
        await asyncio.sleep(0)
    await until(lambda: audit.stats.queue_depth == 30 and not audit._pending, within=5)
    assert await asyncio.to_thread(audit.flush, 10)
    assert len(audit.query(limit=None)) == 30
    await audit.aclose()


def test_postgres_store_through_the_process(pg_table: str, tmp_path: Path) -> None:
    store = PostgresAuditStore(PG_URL, table=pg_table)
    audit = AuditLogger(store=store, writer="process", spill_file=tmp_path / "spill.jsonl")
    audit.submit(server="db", tool="query", params={"sql": "select 1"})
    assert audit.flush(10)
    assert [r.tool for r in audit.query()] == ["query"]
    audit.close()


def test_from_config_uses_the_process_writer_by_default(tmp_path: Path) -> None:
    config = FleetConfig(home=str(tmp_path / "home"))
    assert config.audit.writer == "process"
    audit = AuditLogger.from_config(config)
    assert "writer='process'" in repr(audit)
    audit.submit(server="fs", tool="read")
    assert audit.flush(10)
    assert len(audit.query()) == 1
    audit.close()
    threaded = FleetConfig.model_validate({"home": str(tmp_path / "home"), "audit": {"writer": "thread"}})
    in_thread = AuditLogger.from_config(threaded)
    assert "writer=" not in repr(in_thread)
    in_thread.close()
    with pytest.raises(ValueError, match="writer"):
        FleetConfig.model_validate({"audit": {"writer": "fork"}})


def test_a_store_the_process_cannot_open_again_is_refused_clearly(tmp_path: Path) -> None:
    held = HeldStore(tmp_path / "a.db")  # a subclass: the process could only open a plain SQLite store
    with pytest.raises(AuditError, match=r"a HeldStore.*writer='thread'"):
        AuditLogger(store=held, writer="process")
    held.close()
    with pytest.raises(AuditError, match="'thread' or 'process'"):
        AuditLogger(log_file=tmp_path / "a.jsonl", writer="fork")  # type: ignore[arg-type]


def test_arguments_only_python_holds_go_over_as_their_masked_text(tmp_path: Path) -> None:
    audit = AuditLogger(store=SqliteAuditStore(tmp_path / "a.db"), writer="process")
    lock = threading.Lock()
    audit.submit(server="py", tool="op", params={"lock": lock, "n": 1, "api_key": "k"}, error=None)
    sealed = audit.record(server="py", tool="op2", params={"sock": lock})
    audit.submit(server="py", tool="plain", params={"n": 2})
    assert audit.flush(10)
    records = {r.tool: r for r in audit.query(limit=None)}
    assert set(records) == {"op", "op2", "plain"}
    assert records["op"].params["lock"].startswith("<unlocked _thread.lock")
    assert records["op"].params["api_key"] == MASK and records["op"].params["n"] == 1
    assert sealed.params == records["op2"].params
    assert audit.verify().ok
    audit.close()


def test_no_process_starts_until_something_is_recorded(tmp_path: Path) -> None:
    def audit_processes() -> set[int]:
        return {p.pid for p in psutil.Process().children() if "mcpfleet.audit.child" in p.cmdline()}

    before = audit_processes()
    audit = AuditLogger(store=SqliteAuditStore(tmp_path / "a.db"), writer="process")
    assert "starts with the first record" in repr(audit)
    assert audit.stats.recorded == 0 and audit.query() == []
    assert audit_processes() == before  # a gateway that never records pays no process
    assert audit.close()
    assert audit_processes() == before
