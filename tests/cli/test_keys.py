"""``mcpfleet keys``: create prints the key once, list shows state, revoke refuses it afterwards."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mcpfleet.cli.keys import parse_duration
from mcpfleet.cli.main import app
from mcpfleet.database import Database
from mcpfleet.exceptions import AuthenticationError, FleetError
from mcpfleet.security import ApiKeyStore

pytestmark = pytest.mark.timeout(60)


def run(tmp_path: Path, *args: str, code: int = 0) -> tuple[str, str]:
    config = tmp_path / "mcpfleet.yaml"
    if not config.exists():
        tmp_path.mkdir(parents=True, exist_ok=True)
        config.write_text("servers: {}\n")
    result = CliRunner().invoke(
        app,
        ["-c", str(config), "keys", *args],
        env={"MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert result.exit_code == code, f"exit {result.exit_code}: {result.stdout}\n{result.stderr}"
    return result.stdout, result.stderr


def test_create_list_revoke(tmp_path: Path) -> None:
    out, err = run(tmp_path, "create", "--name", "ci-bot", "--role", "developer", "--expires", "30d")
    key = out.strip()
    assert re.fullmatch(r"mcpf_[0-9a-f]{8}_\S{43}", key)
    assert "not shown again" in err and "expires" in err
    store = ApiKeyStore(Database(f"sqlite:///{tmp_path / 'home' / 'fleet.db'}"))
    assert store.verify(key).roles == ("developer",)

    listed, _ = run(tmp_path, "list")
    assert "ci-bot" in listed and "developer" in listed and key[:13] in listed and "active" in listed
    assert key not in listed
    rows = json.loads(run(tmp_path, "list", "--json")[0])
    assert [(r["name"], r["state"], r["prefix"]) for r in rows] == [("ci-bot", "active", key[:13])]
    assert rows[0]["expires"] is not None

    revoked, _ = run(tmp_path, "revoke", "ci-bot")
    assert f"Revoked {key[:13]} (ci-bot)" in revoked
    assert "revoked" in run(tmp_path, "list")[0]
    with pytest.raises(AuthenticationError, match="revoked"):
        ApiKeyStore(store.database).verify(key)
    _, err = run(tmp_path, "revoke", "ci-bot", code=1)
    assert "No active API key named or with id 'ci-bot'" in err
    store.database.dispose()


def test_roles_must_be_declared_when_access_control_is_configured(tmp_path: Path) -> None:
    (tmp_path / "mcpfleet.yaml").write_text("access: {roles: {developer: [execute], viewer: [list]}}\n")
    _, err = run(tmp_path, "create", "--name", "x", "--role", "admin", code=1)
    assert "role 'admin' is not declared under access.roles (declared: developer, viewer)" in err
    run(tmp_path, "create", "--name", "x", "--role", "viewer")
    assert "No API keys" in run(tmp_path / "empty", "list")[0]


def test_bad_input_is_explained(tmp_path: Path) -> None:
    _, err = run(tmp_path, "create", "--name", "x", "--role", "r", "--expires", "soon", code=1)
    assert "--expires 'soon' is not a duration; write e.g. 90m, 12h, 30d" in err
    _, err = run(tmp_path, "create", "--name", "../x", "--role", "r", code=1)
    assert "is not a valid key name" in err


def test_durations() -> None:
    assert parse_duration("90m").total_seconds() == 5400
    assert parse_duration("30d").days == 30 and parse_duration("2w").days == 14
    assert parse_duration("1Y").days == 365
    for bad in ("0d", "1.5h", "-1d", "d", "10"):
        with pytest.raises(FleetError):
            parse_duration(bad)
