"""``cf-translate``: ContextForge's stdio-to-HTTP bridge alone, ``mcpgateway.translate`` with
``--expose-streamable-http --jsonResponse`` in front of the stdio echo (no gateway behind it).

``mcp-contextforge-gateway`` needs Python >= 3.12: its venv is made with the newest 3.12 found
under pyenv's versions folder (``uv python install`` cannot download here).
"""

from __future__ import annotations

import glob
import os
import secrets
import subprocess
import sys
from pathlib import Path

from lib import ECHO
from lib.peers import PEERS, UV, peer_version
from lib.peers.contextforge import settings
from lib.procs import Proc, free_port
from lib.targets import Log, Running, one_process

VENV = "contextforge"
REQUIREMENT = "mcp-contextforge-gateway"


def python312() -> str:
    found = sorted(
        glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3.1[2-9]"))
        + glob.glob("/root/.pyenv/versions/3.1[2-9]*/bin/python3.1[2-9]")
    )
    if not found:
        raise RuntimeError("mcp-contextforge-gateway needs Python >= 3.12 and pyenv has none")
    return found[0]


def ensure(log: Log) -> Path:
    venv = PEERS / VENV
    marker = venv / ".installed"
    if marker.exists():
        return venv
    log(f"installing {REQUIREMENT} into {venv}")
    subprocess.run([UV, "venv", "-q", "--allow-existing", "--python", python312(), str(venv)], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    done = subprocess.run([UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), REQUIREMENT],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"uv pip install {REQUIREMENT} failed: {done.stderr[-800:]}")
    marker.write_text(REQUIREMENT + "\n")
    return venv


def env(home: Path) -> dict[str, str]:
    """ContextForge's settings (fresh strong secrets): its config refuses weak defaults at import."""
    return {**settings(home), "DEFAULT_USER_PASSWORD": "Bench-" + secrets.token_urlsafe(12) + "-1!"}


async def start(tmp: Path, log: Log) -> Running:
    venv = ensure(log)
    port = free_port()
    argv = [str(venv / "bin" / "python"), "-m", "mcpgateway.translate", "--stdio", f"{sys.executable} {ECHO}"]
    argv += ["--expose-streamable-http", "--jsonResponse", "--port", str(port), "--logLevel", "warning"]
    home = tmp / "cf-translate"
    home.mkdir()
    proc = Proc(argv, tmp / "cf-translate.log", env=env(home), cwd=str(home))
    info = {
        "version": peer_version(venv, "mcp-contextforge-gateway"),
        "how": "python -m mcpgateway.translate --stdio 'python echo.py' --expose-streamable-http "
        "--jsonResponse",
    }
    return await one_process(proc, port, info)
