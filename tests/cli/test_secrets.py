"""`mcpfleet secrets` as an operator runs it: real processes, the value on stdin, never in argv."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mcpfleet.database import Database
from mcpfleet.security.user_secrets import SecretKey, UserSecretStore, generate_key

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # several `mcpfleet` processes


def run(
    tmp_path: Path, *args: str, stdin: str = "", key: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCPFLEET_")}
    env.update(COLUMNS="200", NO_COLOR="1")
    if key is not None:
        env["MCPFLEET_SECRET_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "mcpfleet", "--config", str(tmp_path / "mcpfleet.yaml"), *args],
        input=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=50,
    )  # fmt: skip


def test_set_list_delete_with_the_value_on_stdin(tmp_path: Path) -> None:
    (tmp_path / "mcpfleet.yaml").write_text(yaml.safe_dump({"home": str(tmp_path / "home"), "servers": {}}))
    key = generate_key()  # what `mcpfleet secrets keygen` prints
    done = run(
        tmp_path, "secrets", "set", "--principal", "alice", "github_token", stdin="ghp_value\n", key=key
    )
    assert done.returncode == 0, done.stderr
    assert "Set github_token for alice." in done.stderr
    listed = run(tmp_path, "secrets", "list", "--principal", "alice")
    assert "alice" in listed.stdout and "github_token" in listed.stdout and "ghp_value" not in listed.stdout
    database = Database(f"sqlite:///{tmp_path}/home/fleet.db")
    assert (
        UserSecretStore(database, SecretKey.from_text(key, source="t")).get("alice", "github_token")
        == "ghp_value"
    )
    database.dispose()

    nokey = run(tmp_path, "secrets", "set", "--principal", "bob", "github_token", stdin="x")
    assert nokey.returncode == 1
    assert (
        "no key for per-user secrets: set MCPFLEET_SECRET_KEY" in nokey.stderr
        and "Traceback" not in nokey.stderr
    )

    assert run(tmp_path, "secrets", "delete", "--principal", "alice", "github_token").returncode == 0
    again = run(tmp_path, "secrets", "delete", "--principal", "alice", "github_token")
    assert again.returncode == 1 and "'alice' has no secret 'github_token'" in again.stderr
