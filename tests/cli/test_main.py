"""Every command, given a fleet file that is missing or not valid, says so in a line: no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mcpfleet.cli.main import main

pytestmark = pytest.mark.timeout(60)

# Commands as a user types them after `mcpfleet -c FILE` (none that would run a fleet for good).
COMMANDS = [
    ["status"],
    ["tools", "time"],
    ["call", "time", "get_current_time"],
    ["logs", "time"],
    ["install", "time"],
    ["health"],
    ["drain", "time"],
    ["maintenance", "time", "on"],
    ["start", "time"],
    ["stop", "time"],
    ["restart", "time"],
    ["approve"],
    ["update", "time", "1.0"],
    ["config", "validate"],
    ["config", "export"],
    ["keys", "list"],
    ["audit", "query"],
    ["backup", "list"],
    ["deploy", "compose", "--out", "{tmp}/out"],
    ["search", "memory", "--no-registry"],
]

INVALID = {
    "not YAML": "servers: [\n",
    "not a fleet": "servers:\n  time:\n    package: {type: nonsense}\n",
}


def _run(argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "argv", ["mcpfleet", *argv])
    with pytest.raises(SystemExit) as ended:
        main()
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out, out.err
    assert ended.value.code in (0, 1, 2, None), (argv, ended.value.code, out.err)
    return out.err


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
@pytest.mark.parametrize("kind", ["missing", *INVALID])
def test_a_bad_fleet_file_is_one_line_of_error(
    command: list[str],
    kind: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCPFLEET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MCPFLEET_CONFIG", raising=False)
    config = tmp_path / "fleet.yaml"
    if kind != "missing":
        config.write_text(INVALID[kind])
    argv = ["-c", str(config), *(part.replace("{tmp}", str(tmp_path)) for part in command)]
    said = _run(argv, capsys, monkeypatch)
    if kind != "missing":
        assert "fleet.yaml" in said, said


def test_init_where_the_config_names_a_folder_not_made_yet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MCPFLEET_CONFIG", "examples/mcpfleet.yaml")  # as the README's tour leaves it
    _run(["init"], capsys, monkeypatch)
    assert (tmp_path / "examples" / "mcpfleet.yaml").exists()


def test_up_on_a_port_in_use_says_so_before_installing_anything(tmp_path: Path) -> None:
    fleet_file = tmp_path / "mcpfleet.yaml"
    npm = '{type: npm, name: "@modelcontextprotocol/server-memory", version: "2026.8.31"}'
    fleet_file.write_text(f"home: {tmp_path / 'home'}\nservers:\n  memory: {{package: {npm}}}\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "mcpfleet", "-c", str(fleet_file), "up", "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in done.stderr and "--port" in done.stderr
    assert f"pid {os.getpid()}" in done.stderr  # who holds it
    assert "Traceback" not in done.stderr and "Task was destroyed" not in done.stderr
    assert not (tmp_path / "home" / "servers").exists()  # nothing was installed


HEAVY = ("sqlalchemy", "kubernetes", "opentelemetry", "uvicorn", "starlette", "mcp", "httpx", "pydantic")


def test_importing_the_command_line_leaves_the_heavy_libraries_for_the_commands_that_use_them() -> None:
    # A new interpreter: this one has imported everything already.
    probe = (
        "import sys, mcpfleet.cli.main\n"
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == [], f"importing mcpfleet.cli.main imported {done.stdout.strip()}"
