"""``mcpfleet db``: the previous release's fleet.db upgraded from the command line, its keys and
audit log intact (``keys list``, ``audit verify``); a refused upgrade is one line and exit 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from database_helpers import PREVIOUS, load_previous_release, pg_schema, previous_release_sqlite
from mcpfleet.cli.main import app
from mcpfleet.migrations import VERSION_TABLE

pytestmark = pytest.mark.timeout(60)


def run(tmp_path: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(
        app,
        ["-c", str(tmp_path / "mcpfleet.yaml"), *args],
        env={"MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def previous_home(tmp_path: Path, database_url: str | None = None) -> None:
    home = tmp_path / "home"
    previous_release_sqlite(home).dispose()
    (home / "audit-checkpoint.key").write_text(PREVIOUS["checkpoint_secret"])
    (home / "audit-checkpoint.key").chmod(0o600)
    url = f"database_url: '{database_url}'\n" if database_url else ""
    (tmp_path / "mcpfleet.yaml").write_text(f"home: {home}\n{url}servers: {{}}\n")


def test_upgrade_the_previous_release(tmp_path: Path) -> None:
    previous_home(tmp_path)
    assert "- (no schema version yet" in run(tmp_path, "db", "current")
    out = run(tmp_path, "db", "upgrade")
    assert "fleet.db: upgraded the fleet database from no schema version to 0002 (0001, 0002)" in out
    assert "kept the tables made before migrations: api_keys, audit_records, audit_checkpoints" in out
    assert "0002 (the newest)" in run(tmp_path, "db", "current")
    assert "up to date (revision 0002)" in run(tmp_path, "db", "upgrade")

    verified = run(tmp_path, "audit", "verify")
    assert "OK: 12 records in" in verified and "10 older records pruned under 1 signed checkpoint" in verified
    listed = run(tmp_path, "keys", "list")
    for name, key in PREVIOUS["keys"].items():
        assert name in listed and key[:13] in listed
    assert "revoked" in listed

    with sqlite3.connect(tmp_path / "home" / "fleet.db") as conn:  # as if 0002 had not run
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0001'")
    assert "0001 (behind 0002: run `mcpfleet db upgrade`)" in run(tmp_path, "db", "current")
    assert "from 0001 to 0002 (0002)" in run(tmp_path, "db", "upgrade")


def test_history() -> None:
    out = CliRunner().invoke(app, ["db", "history"]).stdout
    assert out.splitlines()[0].startswith("0001  The schema of the release before migrations")
    assert out.splitlines()[1].startswith("0002  Tool-definition pins")


def test_a_database_from_a_newer_mcpfleet_is_one_line(tmp_path: Path) -> None:
    previous_home(tmp_path)
    run(tmp_path, "db", "upgrade")
    with sqlite3.connect(tmp_path / "home" / "fleet.db") as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = '0999'")
    out = run(tmp_path, "db", "upgrade", code=1)
    assert "which this mcpfleet does not know: a newer mcpfleet upgraded it" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
    assert "0999 (unknown to this mcpfleet: a newer one upgraded it)" in run(tmp_path, "db", "current")


def test_upgrade_postgresql(tmp_path: Path) -> None:
    with pg_schema() as database:
        load_previous_release(database)
        previous_home(tmp_path, database.url.render_as_string(hide_password=False))
        out = run(tmp_path, "db", "upgrade")
        assert "postgresql+psycopg://127.0.0.1:5432/test" in out and "to 0002 (0001, 0002)" in out
        assert database.schema_revision() == "0002"
        assert "OK: 12 records in" in run(tmp_path, "audit", "verify")
