"""``mcpfleet audit query | verify`` against the store the fleet file names."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mcpfleet.audit import AuditLogger
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
