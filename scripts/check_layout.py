"""Fail when a test file does not mirror a module: tests/a/test_b.py tests src/mcpfleet/a/b.py.

tests/test___init__.py stands for src/mcpfleet/__init__.py. End-to-end suites that cross many
modules live in tests/system/ and are not checked. Run: python3 scripts/check_layout.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "mcpfleet"
TESTS = ROOT / "tests"
SKIPPED = {"system", "servers"}  # system: cross-module suites; servers: test servers, not tests


def strays() -> list[str]:
    lines = []
    for test in sorted(TESTS.rglob("test_*.py")):
        folder = test.parent.relative_to(TESTS)
        if folder.parts and folder.parts[0] in SKIPPED:
            continue
        module = SRC / folder / f"{test.stem.removeprefix('test_')}.py"
        if not module.is_file():
            lines.append(
                f"{test.relative_to(ROOT)}: no module {module.relative_to(ROOT)}; move its tests into the "
                "file named after the module they test (tests/a/test_b.py for src/mcpfleet/a/b.py), "
                "or into tests/system/ if they really cross many modules"
            )
    return lines


def main() -> int:
    lines = strays()
    for line in lines:
        print(line, file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
