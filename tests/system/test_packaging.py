"""The distribution: ``uv build`` makes a wheel and an sdist; each installs into a fresh virtual
environment (dependencies from PyPI) where ``mcpfleet --help`` and ``mcpfleet --version`` work,
and the wheel carries every file of the package (templates, static files, ...), not only modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
UV = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MCPFLEET_CONFIG", "MCPFLEET_HOME")
    }
    done = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=500, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    )
    return done.stdout


def package_files() -> set[str]:
    """Files git keeps under src/mcpfleet (tracked or new, not ignored), as wheel paths."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "src/mcpfleet", cwd=ROOT)
    return {
        line.removeprefix("src/")
        for line in listed.splitlines()
        if (ROOT / line).is_file()  # a file deleted but not yet committed is not there to ship
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if UV is None:
        pytest.skip("uv is not installed (it comes with the dev dependencies: uv sync)")
    out = tmp_path_factory.mktemp("dist")
    run(UV, "build", "--out-dir", out, ROOT)
    return out


def test_the_wheel_carries_every_file_of_the_package(dist: Path) -> None:
    (wheel,) = dist.glob(f"mcpfleet-{VERSION}-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = package_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert "mcpfleet/py.typed" in names
    data = {n for n in names if n.startswith("mcpfleet/") and not n.endswith(".py")}
    assert len(data) > 1  # py.typed and the package's data files (templates, static, ...)
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installs_into_a_fresh_venv_and_runs(dist: Path, kind: str, tmp_path: Path) -> None:
    assert UV is not None
    (artifact,) = dist.glob(
        f"mcpfleet-{VERSION}-py3-none-any.whl" if kind == "wheel" else f"mcpfleet-{VERSION}.tar.gz"
    )
    venv = tmp_path / "venv"
    run(UV, "venv", "--python", sys.executable, venv)
    run(UV, "pip", "install", "--python", venv / "bin" / "python", artifact)
    helped = run(venv / "bin" / "mcpfleet", "--help", cwd=tmp_path)
    assert "Usage" in helped and "catalog" in helped and "deploy" in helped
    assert run(venv / "bin" / "mcpfleet", "--version", cwd=tmp_path).strip() == f"mcpfleet {VERSION}"
    code = "import mcpfleet, pathlib; print(mcpfleet.__version__, pathlib.Path(mcpfleet.__file__).parent)"
    version, where = run(venv / "bin" / "python", "-c", code, cwd=tmp_path).split()
    assert version == VERSION and Path(where).is_relative_to(venv)  # the installed copy, not src/
