"""The command line as a user runs it: a real `mcpfleet` process per command, real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers import SERVERS, free_port

pytestmark = pytest.mark.timeout(120)
MCPFLEET = [sys.executable, "-m", "mcpfleet"]


def run(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("MCPFLEET_CONFIG", None)
    done = subprocess.run(
        [*MCPFLEET, "--config", str(tmp_path / "mcpfleet.yaml"), *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=100,
    )  # fmt: skip
    if check and done.returncode != 0:
        raise AssertionError(
            f"mcpfleet {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def write_fleet(tmp_path: Path, servers: dict[str, object]) -> None:
    (tmp_path / "mcpfleet.yaml").write_text(yaml.safe_dump({"servers": servers}))


def toy(*args: str, **extra: object) -> dict[str, object]:
    package = {"type": "command", "command": sys.executable}
    return {"package": package, "args": [str(SERVERS / "toy.py"), *args], **extra}


def test_install_tools_call_status_logs(tmp_path: Path) -> None:
    write_fleet(tmp_path, {"toy": toy(), "broken": toy("--mode", "exit")})
    done = run(tmp_path, "install", check=False)
    assert done.returncode == 1  # one server failed verification; the other installed
    assert "toy" in done.stdout and "ok" in done.stdout
    assert "exited with code 3" in done.stdout
    listed = run(tmp_path, "tools", "toy", "--json")
    assert "echo" in {t["name"] for t in json.loads(listed.stdout)}
    called = run(tmp_path, "call", "toy", "echo", "text=hello fleet")
    assert called.stdout.strip() == "hello fleet"
    raw = run(tmp_path, "call", "toy", "echo", "--json", '{"text": "x"}', "--raw")
    assert json.loads(raw.stdout)["content"][0]["text"] == "x"
    status = run(tmp_path, "status")
    assert "toy" in status.stdout and "not running" in status.stdout
    logs = run(tmp_path, "logs", "toy")
    assert "toy: starting in normal mode" in logs.stdout


def test_tool_error_exits_2(tmp_path: Path) -> None:
    write_fleet(tmp_path, {"toy": toy()})
    run(tmp_path, "install", "--no-verify")
    done = run(tmp_path, "call", "toy", "fail", check=False)
    assert done.returncode == 1 and "toy failure" in done.stderr


def test_unknown_server_suggests(tmp_path: Path) -> None:
    write_fleet(tmp_path, {"toy": toy()})
    done = run(tmp_path, "call", "tyo", "echo", check=False)
    assert done.returncode == 1 and "Did you mean 'toy'" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_validate_reports_every_problem(tmp_path: Path) -> None:
    write_fleet(tmp_path, {"ok": toy(), "bad": {"package": {"type": "nope"}}, "Bad Name": toy()})
    done = run(tmp_path, "config", "validate", check=False)
    assert done.returncode == 1
    assert "servers.bad.package" in done.stderr + done.stdout
    assert "lower-case" in done.stderr + done.stdout


def test_init_writes_a_valid_fleet(tmp_path: Path) -> None:
    run(tmp_path, "init")
    assert "memory" in (tmp_path / "mcpfleet.yaml").read_text()
    run(tmp_path, "config", "validate")
    again = run(tmp_path, "init", check=False)
    assert again.returncode == 1 and "--force" in again.stderr


def test_maintenance_needs_a_running_fleet(tmp_path: Path) -> None:
    write_fleet(tmp_path, {"toy": toy()})
    done = run(tmp_path, "maintenance", "toy", "on", check=False)
    assert done.returncode == 1
    assert "No running fleet" in done.stderr and "mcpfleet up" in done.stderr


def test_drain_and_maintenance_on_a_running_fleet(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "mcpfleet.yaml").write_text(
        yaml.safe_dump({"servers": {"toy": toy()}, "gateway": {"port": port}})
    )
    env = {**os.environ, "MCPFLEET_HOME": str(tmp_path / "home"), "COLUMNS": "200", "NO_COLOR": "1"}
    up = subprocess.Popen(
        [*MCPFLEET, "--config", str(tmp_path / "mcpfleet.yaml"), "up"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(300):
            if "ready" in run(tmp_path, "status", check=False).stdout:
                break
            assert up.poll() is None, up.stderr.read() if up.stderr else ""
            time.sleep(0.1)
        assert run(tmp_path, "drain", "toy", "--timeout", "5").stdout.strip() == "toy: draining"
        assert run(tmp_path, "maintenance", "toy", "on").stdout.strip() == "toy: maintenance"
        refused = run(tmp_path, "call", "toy", "echo", "text=x", check=False)
        assert refused.returncode == 1 and "maintenance mode" in refused.stderr
        assert run(tmp_path, "maintenance", "toy", "off").stdout.strip() == "toy: taking calls"
        assert run(tmp_path, "call", "toy", "echo", "text=back").stdout.strip() == "back"
        assert "No agent is waiting for approval" in run(tmp_path, "approve").stdout
        health = run(tmp_path, "health")
        assert "toy" in health.stdout and "healthy" in health.stdout and " ms" in health.stdout
        unknown = run(tmp_path, "approve", "abc123", check=False)
        assert unknown.returncode == 1 and "abc123" in unknown.stderr
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(timeout=30)
        if up.stderr is not None:
            up.stderr.close()


def test_search_says_when_the_registry_cannot_be_reached(tmp_path: Path) -> None:
    (tmp_path / "mcpfleet.yaml").write_text(
        yaml.safe_dump({"registry_url": f"http://127.0.0.1:{free_port()}"})
    )
    done = run(tmp_path, "search", "time")
    assert "time" in done.stdout
    assert "Built-in catalog only" in done.stderr and "Cannot reach the MCP registry" in done.stderr


def test_up_beyond_loopback_without_auth_is_refused_before_anything_is_installed(tmp_path: Path) -> None:
    write_fleet(tmp_path, {"toy": toy()})
    done = run(tmp_path, "up", "--host", "0.0.0.0", check=False)
    assert done.returncode != 0
    assert "auth" in (done.stdout + done.stderr)
    assert not (tmp_path / "home" / "configs" / "install-lock.json").exists()


def hand_written(tmp_path: Path) -> tuple[str, str, str]:
    """A fleet file as a person writes it: comments, an inline entry, odd key order, blank lines.
    Returns its text split around the `toy` entry (head, toy, rest)."""
    args = f"[{SERVERS / 'toy.py'}]"
    head = "# Our fleet, written by hand.\nservers:\n  # toy: the test server\n"
    toy_entry = f"  toy: {{package: {{type: command, command: {sys.executable}}}, args: {args}}}   # inline\n"
    rest = (
        "\n"
        "  other:\n"
        f"    args: {args}\n"
        "    package:\n"
        f"      command: {sys.executable}\n"
        "      type: command\n"
        "# end of servers\n"
        "gateway: {port: 8765}   # fixed\n"
    )
    (tmp_path / "mcpfleet.yaml").write_text(head + toy_entry + rest)
    return head, toy_entry, rest


@pytest.mark.slow
@pytest.mark.pypi
@pytest.mark.timeout(300)
def test_install_and_remove_touch_only_their_own_entry(tmp_path: Path) -> None:
    head, toy_entry, rest = hand_written(tmp_path)
    fleet = tmp_path / "mcpfleet.yaml"
    run(tmp_path, "install", "time")  # from the built-in catalog
    text = fleet.read_text()
    end = rest.index("# end of servers")
    added = text[len(head + toy_entry + rest[:end]) : len(text) - len(rest[end:])]
    assert text == head + toy_entry + rest[:end] + added + rest[end:]
    assert added == (
        "\n  time:\n"
        "    package: {type: pypi, name: mcp-server-time, version: 2026.10.19}\n"
        "    description: Current time and time-zone conversion\n"
    )
    assert "home" not in text  # MCPFLEET_HOME is set for the command; the file never says it
    lock = json.loads((tmp_path / "home/configs/install-lock.json").read_text())["servers"]
    assert set(lock) == {"time"}

    done = run(tmp_path, "remove", "toy", "time")
    assert fleet.read_text() == head.replace("  # toy: the test server\n", "") + rest.removeprefix("\n")
    assert json.loads((tmp_path / "home/configs/install-lock.json").read_text())["servers"] == {}
    assert not (tmp_path / "home/servers/time").exists() and "its data stays" in done.stdout
    unknown = run(tmp_path, "remove", "nope", check=False)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_failed_install_changes_nothing_and_fails_every_time(tmp_path: Path) -> None:
    write_fleet(tmp_path, {"toy": toy()})
    run(tmp_path, "install", "toy")
    ghost = "\n# PyPI has none\n  ghost: {package: {type: pypi, name: mcpfleet-no-such-package-xyz}}\n"
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(fleet.read_text().replace("servers:\n", "servers:" + ghost, 1))
    before, lock = fleet.read_bytes(), (tmp_path / "home/configs/install-lock.json").read_bytes()
    for _ in range(2):
        done = run(tmp_path, "install", "ghost", check=False)
        assert done.returncode == 1 and "PyPI has no mcpfleet-no-such-package-xyz" in done.stdout
        assert "already installed" not in done.stdout
        assert fleet.read_bytes() == before
        assert (tmp_path / "home/configs/install-lock.json").read_bytes() == lock
        assert not (tmp_path / "home/servers/ghost").exists()
