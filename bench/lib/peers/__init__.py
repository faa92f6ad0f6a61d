"""Other MCP gateways the benchmark compares with, one module per peer target.

Each peer module has ``VENV`` (its directory under bench/.peers), ``REQUIREMENT`` (what
``uv pip install`` gets from PyPI: the newest that installs on this Python) and
``async start(tmp, log) -> Running``. A peer is installed on first use and reused after.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lib import BENCH
from lib.targets import Log

PEERS = BENCH / ".peers"
UV = str(Path(sys.executable).parent / "uv")


def ensure_peer(name: str, requirement: str, log: Log) -> Path:
    """bench/.peers/NAME: a venv with ``requirement`` from PyPI (installed once, reused after)."""
    venv = PEERS / name
    marker = venv / ".installed"
    if marker.exists():
        return venv
    log(f"installing {requirement} into {venv}")
    subprocess.run(
        [UV, "venv", "-q", "--allow-existing", "--python", "/usr/bin/python3.11", str(venv)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    done = subprocess.run(
        [UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), requirement],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"uv pip install {requirement} failed: {done.stderr[-800:]}")
    marker.write_text(requirement + "\n")
    return venv


def peer_version(venv: Path, dist: str) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip() or "?"
