"""Helpers for the container tests (import as `deploy_helpers`): podman set up for this machine,
and an mcpfleet image built from this machine's own Python, without any registry.

The image is a root file system made here: this interpreter and its standard library, the
test virtual environment (minus tools no container needs), mcpfleet's source, our small test
servers, and the shared libraries all of those link to (found with ldd), at the same paths as
on the host so the venv's symlinks and script shebangs keep working. `podman import` turns
the tarball into an image.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import mcpfleet

# A sample fleet with every kind of package the renderers handle, and secrets of both kinds.
LITERAL_SECRET = "sk-live-4f9c2b7d1e"  # written in clear in the fleet file
REFERENCED_SECRET = "ghp_referenced_77aa01"  # the value of ${GH_TOKEN}, from the environment
SEARCH_SECRET = "search-token-93bd"

SAMPLE = """
gateway: {port: 8765}
auth: none
servers:
  memory:
    package: {type: npm, name: "@modelcontextprotocol/server-memory", version: "2026.8.31"}
    env: {MEMORY_FILE_PATH: "${MCPFLEET_SERVER_DATA}/memory.json", GITHUB_TOKEN: "${GH_TOKEN}"}
    instances: 2
  time:
    package: {type: pypi, name: mcp-server-time, version: "2026.10.19"}
    env: {API_KEY: "@LITERAL@", LOG_LEVEL: debug}
  toy:
    package: {type: command, command: python3}
    args: [toy.py]
  search:
    package: {type: remote, url: "https://search.example.com/mcp"}
    headers: {Authorization: "Bearer ${SEARCH_TOKEN}"}
""".replace("@LITERAL@", LITERAL_SECRET)

SRC = Path(mcpfleet.__file__).resolve().parents[1]
SERVERS = Path(__file__).parent / "servers"
# podman on this machine needs runc, and ulimits no higher than this process's hard limits
# (its default nofile of 1048576 is refused); no systemd, so cgroupfs and file events.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
_SKIP_PACKAGES = ("mypy", "mypyc", "kubernetes_validate", "pip", "setuptools", "ruff", "_pytest", "pytest")
_SKIP_STDLIB = (
    "site-packages",
    "test",
    "idlelib",
    "tkinter",
    "ensurepip",
    "lib2to3",
    "turtledemo",
    "config-3",
)


def podman_missing(conf: Path) -> str | None:
    """Why the engine tests cannot run here, or None when podman and podman-compose work."""
    podman = shutil.which("podman")
    if podman is None:
        return "podman is not installed (apt-get install podman runc uidmap) - no container engine here"
    if not (Path(sys.executable).parent / "podman-compose").exists() and not shutil.which("podman-compose"):
        return "podman-compose is not installed (it comes with the dev dependencies)"
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    info = subprocess.run([podman, "info"], capture_output=True, text=True, env=env, timeout=60)
    if info.returncode != 0:
        return f"`podman info` fails, so no container can run: {info.stderr.strip()[-300:]}"
    return None


def write_containers_conf(folder: Path) -> Path:
    path = folder / "containers.conf"
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # runc is refused an nproc limit as high as this machine reports; 4096 is plenty for a test.
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 4096)
    path.write_text(CONTAINERS_CONF.format(nofile=nofile, nproc=nproc), encoding="utf-8")
    return path


def _is_elf(path: Path) -> bool:
    with contextlib.suppress(OSError), path.open("rb") as f:
        return f.read(4) == b"\x7fELF"
    return False


def _shared_libraries(binaries: list[Path]) -> set[Path]:
    libs: set[Path] = set()
    for start in range(0, len(binaries), 200):
        out = subprocess.run(
            ["ldd", *map(str, binaries[start : start + 200])], capture_output=True, text=True, timeout=120
        ).stdout
        for line in out.splitlines():
            found = re.search(r"(/\S+) \(0x", line)
            if found:
                libs.add(Path(os.path.normpath(found[1])))
    return libs


def _skip(path: Path) -> bool:
    return any(part in _SKIP_PACKAGES or part.startswith(_SKIP_PACKAGES) for part in path.parts)


def _rootfs_files() -> Iterator[Path]:
    base = Path(sys.base_prefix)
    stdlib = base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    yield from (base / "bin").glob("python3*")
    yield from (base / "lib").glob("libpython3*")
    for item in stdlib.iterdir():
        if not item.name.startswith(_SKIP_STDLIB):
            yield item
    venv = Path(sys.prefix)
    yield venv / "pyvenv.cfg"
    yield venv / "bin"
    site = next((venv / "lib").glob("python3*/site-packages"))
    for item in site.iterdir():
        if not _skip(Path(item.name)) and "__mypyc" not in item.name:
            yield item
    yield SRC / "mcpfleet"
    yield SERVERS / "toy.py"
    yield SERVERS / "work_server.py"


def build_image(folder: Path) -> str:
    """Build the image and return its name (``localhost/mcpfleet-test:<random>``); podman must work."""
    roots = list(_rootfs_files())
    binaries = [Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"]
    for root in roots:
        if root.is_dir():
            binaries += [p for p in root.rglob("*.so*") if p.is_file() and _is_elf(p)]
    libs = _shared_libraries(binaries)
    libs.add(Path("/lib64/ld-linux-x86-64.so.2"))
    tarball = folder / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        for name, text in {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "etc/group": "root:x:0:\n",
            "etc/hosts": "127.0.0.1 localhost\n",
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, fileobj=io.BytesIO(data))
        for empty in ("tmp", "root", "var/lib/mcpfleet", "etc/mcpfleet"):
            info = tarfile.TarInfo(empty)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if empty == "tmp" else 0o755
            tar.addfile(info)
        seen: set[str] = set()

        def once(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            if info.name in seen:
                return None
            seen.add(info.name)
            return info

        for top in ("lib", "lib64", "bin", "sbin"):  # merged /usr: /lib -> usr/lib, ...
            if Path("/", top).is_symlink():
                info = tarfile.TarInfo(top)
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(Path("/", top))
                tar.addfile(info)
        for path in roots:
            tar.add(path, arcname=str(path).lstrip("/"), filter=once)
        for lib in sorted(libs):
            # Under its soname in its real folder (a symlink, mostly), and the file it points to.
            named = Path(os.path.realpath(lib.parent)) / lib.name
            for item in (named, named.resolve()):
                tar.add(item, arcname=str(item).lstrip("/"), filter=once)
    name = f"localhost/mcpfleet-test:{uuid.uuid4().hex[:12]}"
    venv_bin = Path(sys.prefix) / "bin"
    changes = [
        f"ENV PATH={venv_bin}:/usr/bin:/bin",
        f"ENV PYTHONPATH={SRC}",
        "ENV HOME=/root",
        "ENV MCPFLEET_HOME=/var/lib/mcpfleet",
        'ENTRYPOINT ["mcpfleet"]',
    ]
    argv = ["podman", "import", *(a for c in changes for a in ("--change", c)), str(tarball), name]
    subprocess.run(argv, check=True, capture_output=True, timeout=300)
    tarball.unlink()
    return name
