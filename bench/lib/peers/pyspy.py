"""py-spy, for the profiling pass (not a target): bench/.peers/tools/bin/py-spy."""

from __future__ import annotations

import contextlib
from pathlib import Path

from lib.peers import PEERS, ensure_peer
from lib.targets import Log

VENV = "tools"
REQUIREMENT = "py-spy==0.4.3"


def binary(log: Log) -> Path:
    """py-spy's path, installed first if missing (the path may still not exist if that failed)."""
    pyspy = PEERS / VENV / "bin" / "py-spy"
    if not pyspy.exists():
        with contextlib.suppress(Exception):
            pyspy = ensure_peer(VENV, REQUIREMENT, log) / "bin" / "py-spy"
    return pyspy
