"""``mcpfleet audit query | verify | prune`` against the store the fleet file names."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from audit_helpers import sealed
from mcpfleet.audit import AuditLogger, JsonlAuditStore
from mcpfleet.audit.checkpoint import KEY_FILE
from mcpfleet.cli.audit import parse_moment
from mcpfleet.cli.main import app
from mcpfleet.config import load_config

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(yaml.safe_dump({"home": "home", "servers": {}, "audit": {"store": "jsonl"}}))
    with AuditLogger.from_config(load_config(path)) as audit:
        audit.record(server="fs", tool="read_file", user="ann", params={"path": "/a", "password": "p"})
        audit.record(server="fs", tool="write_file", user="bob", outcome="error", error="PermissionError: no")
        audit.record(server="git", tool="log", user="ann", latency_ms=12.5, request_id="req-7")
    return path


def run(fleet_file: Path, *args: str) -> tuple[int, str]:
    env: dict[str, str | None] = {"COLUMNS": "200", "NO_COLOR": "1", "MCPFLEET_HOME": None}
    result = CliRunner().invoke(app, ["--config", str(fleet_file), "audit", *args], env=env)
    return result.exit_code, result.output


def test_query_json_and_filters(fleet_file: Path) -> None:
    code, out = run(fleet_file, "query", "--json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["tool"] for r in records] == ["log", "write_file", "read_file"]
    assert records[2]["params"] == {"path": "/a", "password": "***"}
    code, out = run(fleet_file, "query", "--json", "--user", "ann", "--server", "fs")
    assert [json.loads(line)["tool"] for line in out.splitlines()] == ["read_file"]
    code, out = run(fleet_file, "query", "--json", "--outcome", "error", "--since", "1h", "--limit", "5")
    assert [json.loads(line)["user"] for line in out.splitlines()] == ["bob"]
    code, out = run(fleet_file, "query", "--json", "--until", "1h")
    assert (code, out) == (0, "")


def test_query_table(fleet_file: Path) -> None:
    code, out = run(fleet_file, "query", "--tool", "log")
    assert code == 0
    assert "1 record(s)" in out and "git" in out and "12.5 ms" in out and "req-7" in out
    assert "read_file" not in out


def test_query_rejects_bad_times(fleet_file: Path) -> None:
    code, out = run(fleet_file, "query", "--since", "yesterday-ish")
    assert code == 2 and "90s, 15m, 24h, 7d" in out


def test_verify_ok_then_broken(fleet_file: Path) -> None:
    code, out = run(fleet_file, "verify")
    assert (code, out.strip()) == (0, "OK: 3 records in 1 chains verified")
    log = fleet_file.parent / "home" / "audit.jsonl"
    lines = log.read_text().splitlines()
    log.write_text(lines[0] + "\n" + lines[2] + "\n")
    code, out = run(fleet_file, "verify")
    assert code == 1
    assert "deleted" in out and "seq 1 of this chain is missing" in out


def test_unreachable_store_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(yaml.safe_dump({"home": "home", "audit": {"store": "postgresql"}}))
    code, out = run(path, "verify")
    assert code == 2 and "no PostgreSQL URL is set" in out


def test_parse_moment() -> None:
    now = datetime(2025, 3, 1, 12, 0).astimezone()
    assert parse_moment("90m", now) == now - timedelta(minutes=90)
    assert parse_moment("7d", now) == now - timedelta(days=7)
    assert parse_moment("2025-03-01T10:00") == datetime(2025, 3, 1, 10, 0).astimezone()


@pytest.fixture
def pruneable(fleet_file: Path) -> Path:
    """The fleet of ``fleet_file`` plus a chain of five records from long ago."""
    JsonlAuditStore(fleet_file.parent / "home" / "audit.jsonl").write(
        sealed("host-1-old", [{"tool": "t"}] * 5)
    )
    return fleet_file


def test_prune_dry_run_then_for_real_then_verify(pruneable: Path) -> None:
    home = pruneable.parent / "home"
    before = (home / "audit.jsonl").read_text()
    code, out = run(pruneable, "prune", "--dry-run")
    assert code == 0 and "would be pruned" in out and "host-1-old" in out
    assert "would prune 5 records older than" in out and "nothing was changed" in out
    assert (home / "audit.jsonl").read_text() == before and not (home / KEY_FILE).exists()

    code, out = run(pruneable, "prune")
    assert code == 0, out
    assert "pruned 5 records older than" in out and "the file was rewritten without them" in out
    assert "signed, key" in out and (home / KEY_FILE).stat().st_mode & 0o777 == 0o600
    code, out = run(pruneable, "verify")
    assert (code, out.strip()) == (
        0, "OK: 3 records in 2 chains verified; 5 older records pruned under 1 signed checkpoint(s)"
    )  # fmt: skip
    code, out = run(pruneable, "prune", "--older-than", "1h")
    assert code == 0 and "nothing to prune: no record is older than" in out


def test_prune_older_than_overrides_the_retention(pruneable: Path) -> None:
    code, out = run(pruneable, "prune", "--older-than", "1w", "--dry-run")
    assert code == 0 and "would prune 5 records" in out
    code, out = run(pruneable, "prune", "--older-than", "0.0001s")  # everything, the fleet's own calls too
    assert code == 0 and "pruned 8 records" in out
    code, out = run(pruneable, "verify")
    assert code == 0 and "OK: 0 records in 2 chains verified; 8 older records pruned" in out


def test_tampering_after_a_prune_fails_verify(pruneable: Path) -> None:
    assert run(pruneable, "prune")[0] == 0
    marks = pruneable.parent / "home" / "audit.jsonl.checkpoints"
    mark = json.loads(marks.read_text())
    marks.write_text(json.dumps({**mark, "seq": 3, "pruned": 4}) + "\n")
    code, out = run(pruneable, "verify")
    assert code == 1 and "BROKEN: checkpoint: the checkpoint of chain host-1-old (seq 3)" in out
    (pruneable.parent / "home" / KEY_FILE).unlink()
    code, out = run(pruneable, "verify")
    assert code == 2 and "needs the key that signed them" in out and "Traceback" not in out


def test_prune_mistakes_are_errors_not_tracebacks(pruneable: Path, tmp_path: Path) -> None:
    code, out = run(pruneable, "prune", "--older-than", "soon")
    assert code == 2 and "'soon' is not an age; use e.g. 12h, 30d or 2w" in out
    forever = tmp_path / "forever.yaml"
    forever.write_text(yaml.safe_dump({"home": "home", "audit": {"store": "jsonl", "retention_days": None}}))
    code, out = run(forever, "prune")
    assert code == 2 and "nothing to prune by" in out and "--older-than 30d" in out
    elsewhere = tmp_path / "pg.yaml"
    elsewhere.write_text(yaml.safe_dump({"home": "home", "audit": {"store": "postgresql"}}))
    code, out = run(elsewhere, "prune", "--dry-run")
    assert code == 2 and "no PostgreSQL URL is set" in out and "Traceback" not in out
