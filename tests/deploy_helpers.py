"""Helpers for the container tests (import as `deploy_helpers`): podman set up for this machine,
and an mcpfleet image built from this machine's own Python, without any registry.

The image is a root file system made here: this interpreter and its standard library, the
test virtual environment (minus tools no container needs) and the shared libraries all of those
link to (found with ldd), at the same paths as on the host so the venv's symlinks and script
shebangs keep working; `podman import` turns the tarball into a base image, kept and reused
while its content is unchanged. mcpfleet's source and our small test servers go in a thin
layer on top. The same machinery makes stand-ins for the public base images the Containerfile
names (python_standin, node_standin), since no registry is reachable here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

import mcpfleet
from helpers import routing_headers

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
_DEBIAN_SLIM_PACKAGES = ("libc6", "libgcc-s1", "libstdc++6")
_COREUTILS = ("env", "mkdir", "ln", "chown", "chmod", "rm", "cat", "cp", "mv", "ls", "id")


def podman_missing(conf: Path, *, compose: bool = True) -> str | None:
    """Why the engine tests cannot run here, or None when podman (with runc, as ``conf`` sets it)
    and, with ``compose``, podman-compose work."""
    podman = shutil.which("podman")
    if podman is None:
        return "podman is not installed (apt-get install podman runc uidmap) - no container engine here"
    has_compose = (Path(sys.executable).parent / "podman-compose").exists() or shutil.which("podman-compose")
    if compose and not has_compose:
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


class RootFs:
    """A root file system to import as an image: host files and folders under the names they get
    inside, small files, folders and symlinks of its own, and the shared libraries (found with
    ldd, at their host paths) every ELF file in it links to."""

    def __init__(self) -> None:
        self.trees: list[tuple[Path, str]] = []
        self.texts: dict[str, str] = {
            "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
            "etc/group": "root:x:0:\n",
            "etc/hosts": "127.0.0.1 localhost\n",
        }
        self.dirs: dict[str, int] = {"tmp": 0o1777, "root": 0o700}
        self.links: dict[str, str] = {}
        self.no_libraries_from: tuple[Path, ...] = ()  # folders whose libraries the tree places itself

    def add(self, path: Path, arcname: str | None = None) -> None:
        self.trees.append((path, arcname or str(path).lstrip("/")))

    def _walk(self) -> Iterator[Path]:
        for path, _ in self.trees:
            yield path
            if path.is_dir() and not path.is_symlink():
                yield from path.rglob("*")

    def key(self, changes: list[str]) -> str:
        """A hash of every name, size and modification time in it: equal keys, equal images.
        Bytecode caches are left out (Python writes them as it imports; the image works with or
        without them)."""
        digest = hashlib.sha256(repr((self.texts, self.dirs, self.links, changes)).encode())
        for path, arcname in self.trees:
            digest.update(f"{path}>{arcname}".encode())
        for path in self._walk():
            if "__pycache__" in path.parts:
                continue
            with contextlib.suppress(OSError):
                st = path.lstat()
                digest.update(f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_mode}\n".encode())
        return digest.hexdigest()[:16]

    def write(self, tarball: Path) -> None:
        binaries = [p for p in self._walk() if p.is_file() and not p.is_symlink() and _is_elf(p)]
        libs = {
            lib
            for lib in _shared_libraries(binaries)
            if not any(lib.is_relative_to(folder) for folder in self.no_libraries_from)
        }
        libs.add(Path("/lib64/ld-linux-x86-64.so.2"))
        seen: set[str] = set()

        def once(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            if info.name in seen:
                return None
            seen.add(info.name)
            return info

        with tarfile.open(tarball, "w") as tar:
            for name, text in self.texts.items():
                data = text.encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, fileobj=io.BytesIO(data))
            for name, mode in self.dirs.items():
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, mode
                tar.addfile(info)
            for top in ("lib", "lib64", "bin", "sbin"):  # merged /usr: /lib -> usr/lib, ...
                if Path("/", top).is_symlink():
                    self.links.setdefault(top, os.readlink(Path("/", top)))
            for name, target in self.links.items():
                info = tarfile.TarInfo(name)
                info.type, info.linkname = tarfile.SYMTYPE, target
                seen.add(info.name)
                tar.addfile(info)
            for path, arcname in self.trees:
                tar.add(path, arcname=arcname, filter=once)
            for lib in sorted(libs):
                # Under its soname in its real folder (a symlink, mostly), and the file it points to.
                named = Path(os.path.realpath(lib.parent)) / lib.name
                for item in (named, named.resolve()):
                    tar.add(item, arcname=str(item).lstrip("/"), filter=once)


def image_exists(name: str) -> bool:
    found = subprocess.run(["podman", "image", "exists", name], capture_output=True, timeout=60)
    return found.returncode == 0


def import_cached(rootfs: RootFs, repository: str, changes: list[str], folder: Path) -> str:
    """``repository:<content key>``, imported unless podman already holds it (older tags of the
    repository are then removed, unless in use). Building the tarball and importing it is the
    slow part of the container tests (half a minute, minutes under load); this runs it only when
    something in the image changed."""
    name = f"{repository}:{rootfs.key(changes)}"
    if image_exists(name):
        return name
    tarball = folder / f"rootfs-{uuid.uuid4().hex[:8]}.tar"
    try:
        rootfs.write(tarball)
        argv = ["podman", "import", *(a for c in changes for a in ("--change", c)), str(tarball), name]
        imported = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if imported.returncode != 0:
            raise RuntimeError(f"podman import of {name} failed: {imported.stderr.strip()[-1000:]}")
    finally:
        tarball.unlink(missing_ok=True)
    listed = subprocess.run(
        ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={repository}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    for old in set(listed.stdout.split()) - {name}:
        subprocess.run(["podman", "rmi", old], capture_output=True, timeout=120)  # kept while in use
    return name


def _test_rootfs() -> RootFs:
    """This interpreter and its standard library, the test venv (minus tools no container needs),
    at the same paths as on the host so the venv's symlinks and script shebangs keep working."""
    fs = RootFs()
    fs.dirs.update({"root": 0o755, "var/lib/mcpfleet": 0o755, "etc/mcpfleet": 0o755})
    base = Path(sys.base_prefix)
    stdlib = base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    for path in (*(base / "bin").glob("python3*"), *(base / "lib").glob("libpython3*")):
        fs.add(path)
    for item in stdlib.iterdir():
        if not item.name.startswith(_SKIP_STDLIB):
            fs.add(item)
    venv = Path(sys.prefix)
    fs.add(venv / "pyvenv.cfg")
    fs.add(venv / "bin")
    site = next((venv / "lib").glob("python3*/site-packages"))
    for item in site.iterdir():
        if not _skip(Path(item.name)) and "__mypyc" not in item.name:
            fs.add(item)
    return fs


_TEST_IMAGE_CHANGES = [
    f"ENV PATH={Path(sys.prefix) / 'bin'}:/usr/bin:/bin",
    f"ENV PYTHONPATH={SRC}",
    "ENV HOME=/root",
    "ENV MCPFLEET_HOME=/var/lib/mcpfleet",
    'ENTRYPOINT ["mcpfleet"]',
]


def base_image(folder: Path) -> str:
    """The cached base of the test image: this Python and the test venv (the official MCP SDK
    included) at their host paths, no mcpfleet source. Kept by podman; podman must work."""
    return import_cached(_test_rootfs(), "localhost/mcpfleet-test-base", _TEST_IMAGE_CHANGES, folder)


def build_image(folder: Path) -> str:
    """The mcpfleet test image (``localhost/mcpfleet-test:<random>``; remove it when done): a base
    of Python, the venv and their libraries, cached across runs by content (see import_cached),
    and a thin layer on top with mcpfleet's source and our small test servers. podman must work."""
    base = base_image(folder)
    context = folder / f"context-{uuid.uuid4().hex[:8]}"
    shutil.copytree(SRC / "mcpfleet", context / "mcpfleet", ignore=shutil.ignore_patterns("__pycache__"))
    for server in ("toy.py", "work_server.py"):
        shutil.copy(SERVERS / server, context / server)
    layer = f"FROM {base}\nCOPY mcpfleet {SRC}/mcpfleet\nCOPY toy.py work_server.py {SERVERS}/\n"
    (context / "Containerfile").write_text(layer, encoding="utf-8")
    name = f"localhost/mcpfleet-test:{uuid.uuid4().hex[:12]}"
    built = subprocess.run(
        ["podman", "build", "--network", "none", "-t", name, str(context)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    shutil.rmtree(context)
    if built.returncode != 0:
        raise RuntimeError(f"podman build of the test image failed: {built.stderr[-2000:]}")
    return name


def _package_files(packages: tuple[str, ...]) -> list[Path]:
    """The files (not folders, not docs) of these Debian packages, as ``dpkg -L`` lists them."""
    listed = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True, timeout=60)
    if listed.returncode != 0:
        raise RuntimeError(f"`dpkg -L {' '.join(packages)}` failed: {listed.stderr.strip()[-300:]}")
    paths = (Path(line) for line in listed.stdout.splitlines() if not line.startswith("/usr/share"))
    return [path for path in paths if path.is_symlink() or path.is_file()]


def python_standin(folder: Path) -> str:
    """A stand-in for ``python:3.X-slim-bookworm`` where no registry is reachable: this machine's
    Python (Debian bookworm's libraries) relocated to /usr/local with pip, a POSIX shell and the
    few coreutils a Containerfile's RUN lines use, and all of libc6 and libstdc++ as Debian slim
    has them."""
    fs = RootFs()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix)
    stdlib = base / "lib" / version
    fs.add(Path(os.path.realpath(base / "bin" / version)), f"usr/local/bin/{version}")
    fs.links.update({"usr/local/bin/python3": version, "usr/local/bin/python": version})
    for item in stdlib.iterdir():
        if not item.name.startswith(_SKIP_STDLIB):
            fs.add(item, f"usr/local/lib/{version}/{item.name}")
    for item in (stdlib / "site-packages").glob("pip*"):
        fs.add(item, f"usr/local/lib/{version}/site-packages/{item.name}")
    # libpython where the loader looks without an ld.so.cache (the real image runs ldconfig).
    libpython = next((base / "lib").glob("libpython3*.so.1.0"))
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    fs.add(Path(os.path.realpath(libpython)), f"usr/lib/{multiarch}/{libpython.name}")
    fs.no_libraries_from = (base,)
    for tool in ("dash", *_COREUTILS):
        found = shutil.which(tool)
        if found is None:
            raise RuntimeError(f"`{tool}` is not on PATH; the stand-in base image needs it")
        fs.add(Path(os.path.realpath(found)), f"usr/bin/{tool}")
    fs.links["usr/bin/sh"] = "dash"
    for path in _package_files(_DEBIAN_SLIM_PACKAGES):
        fs.add(Path(os.path.realpath(path.parent)) / path.name)  # /lib/x.so -> /usr/lib/x.so
    certificates = Path("/etc/ssl/certs/ca-certificates.crt")
    if certificates.exists():
        fs.add(Path(os.path.realpath(certificates)), "etc/ssl/certs/ca-certificates.crt")
    changes = [
        "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["python3"]',
    ]
    return import_cached(fs, "localhost/mcpfleet-standin-python", changes, folder)


def node_standin(folder: Path) -> str:
    """A stand-in for ``node:20-bookworm-slim``: this machine's node and npm where the official
    image has them (/usr/local/bin/node, /usr/local/lib/node_modules/npm)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("node and npm are not on PATH; the stand-in node image needs them")
    fs = RootFs()
    fs.add(Path(os.path.realpath(node)), "usr/local/bin/node")
    fs.add(Path(os.path.realpath(npm)).parents[1], "usr/local/lib/node_modules/npm")
    return import_cached(fs, "localhost/mcpfleet-standin-node", ['CMD ["node"]'], folder)


ROOT = SRC.parent
CONTAINERFILE = ROOT / "Containerfile"


def standins_missing() -> str | None:
    """Why the stand-in base images cannot be made here, or None."""
    for tool in ("node", "npm", "dpkg", "dash", *_COREUTILS):
        if shutil.which(tool) is None:
            return f"`{tool}` is not on PATH, and the stand-in base images for the Containerfile need it"
    return None


def build_gateway_image(folder: Path) -> str:
    """The repository's Containerfile built on the stand-in bases (``localhost/mcpfleet-image-test:
    <random>``; remove it when done). Host networking, so pip, uv and npm reach their registries;
    the docker format, which keeps the HEALTHCHECK. Its layers stay in podman's cache, so a build
    after a change to src/ only rebuilds the wheel."""
    python, node = python_standin(folder), node_standin(folder)
    name = f"localhost/mcpfleet-image-test:{uuid.uuid4().hex[:12]}"
    argv = [
        "podman", "build", "--format", "docker", "--network", "host",
        "--build-arg", f"PYTHON_BASE={python}", "--build-arg", f"NODE_BASE={node}",
        "-t", name, "-f", str(CONTAINERFILE), str(ROOT),
    ]  # fmt: skip
    built = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    if built.returncode != 0:
        raise RuntimeError(f"podman build -f Containerfile failed:\n{(built.stdout + built.stderr)[-3000:]}")
    return name


STATELESS_HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}
STATELESS_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def call_tool(url: str, tool: str, **arguments: Any) -> Any:
    """One 2026-07-28 (stateless) tools/call to the gateway at ``url``'s /mcp: its result."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, "_meta": STATELESS_META},
    }
    async with httpx.AsyncClient(timeout=60) as http:
        headers = {**STATELESS_HEADERS, **routing_headers(body)}
        response = await http.post(f"{url}/mcp", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["result"]
