"""Container images, pulled and run through the Docker CLI or a compatible one (podman),
sandboxed as :mod:`mcpfleet.sandbox` describes."""

from __future__ import annotations

import os
import shutil

from mcpfleet.config import OciPackage, ServerSpec
from mcpfleet.exceptions import InstallError, PackageNotFoundError, ToolchainMissingError
from mcpfleet.home import FleetHome
from mcpfleet.install.base import BaseInstaller, LaunchSpec, Report, run_tool
from mcpfleet.install.lock import LockRecord
from mcpfleet.sandbox import NetworkConfig, SandboxConfig, container_flags, sandboxed_command

__all__ = ["OciInstaller"]

# What the engine's CLI reads from the environment (a server gets only what its config names).
ENGINE_ENV_KEYS = (
    "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINER_HOST", "CONTAINER_CONNECTION",
    "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH",
)  # fmt: skip


def engine_cli() -> str | None:
    return shutil.which("docker") or shutil.which("podman")


class OciInstaller(BaseInstaller):
    kind = "oci"

    async def _engine(self, server: str) -> str:
        """The first of docker and podman on PATH whose engine answers (a docker CLI without a
        daemon is passed over for a working podman)."""
        clis = [found for found in (shutil.which("docker"), shutil.which("podman")) if found]
        if not clis:
            raise ToolchainMissingError(
                server, "it is a container image, and neither `docker` nor `podman` is on PATH; install one"
            )
        problems = []
        for cli in clis:
            info = await run_tool([cli, "info"], timeout=30)
            if info.code == 0:
                return cli
            problems.append(f"`{cli} info`: {info.tail(2) or 'no answer'}")
        raise ToolchainMissingError(
            server,
            f"it is a container image, and no container engine answers ({'; '.join(problems)}); "
            "start the Docker daemon (or use podman), then install again",
        )

    def is_installed(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> bool:
        # Whether the engine still holds the image is checked at start (`docker run` pulls if not).
        return self.recorded(spec, record)

    async def install(
        self, server: str, spec: ServerSpec, home: FleetHome, *, locked: LockRecord | None, report: Report
    ) -> LockRecord:
        package = spec.package
        assert isinstance(package, OciPackage)
        cli = await self._engine(server)
        reference = f"{package.image}:{package.version}"
        if self.recorded(spec, locked) and locked is not None and locked.resolved.startswith("sha256:"):
            reference = f"{package.image}@{locked.resolved}"
        report(f"pull {reference}", 0.2)
        pulled = await run_tool([cli, "pull", reference])
        if pulled.code != 0 and (await run_tool([cli, "image", "inspect", reference], timeout=30)).code == 0:
            report(f"cannot pull {reference} ({pulled.tail(1)}); using the image already here", 0.5)
        elif pulled.code != 0:
            text = pulled.stderr.lower()
            if "not found" in text or "manifest unknown" in text or "denied" in text:
                raise PackageNotFoundError(
                    server, f"no image {reference} ({pulled.tail(2)}); check the name and tag"
                )
            raise InstallError(server, f"`{cli} pull {reference}` failed:\n{pulled.tail()}")
        inspected = await run_tool(
            [cli, "image", "inspect", "--format", "{{index .RepoDigests 0}}", reference]
        )
        digest = inspected.stdout.strip().rpartition("@")[2] if inspected.code == 0 else ""
        return LockRecord(
            "oci", package.image, package.version, digest or package.version, detail={"cli": cli}
        )

    def launch(self, server: str, spec: ServerSpec, home: FleetHome, record: LockRecord | None) -> LaunchSpec:
        package = spec.package
        assert isinstance(package, OciPackage)
        cli = (record.detail.get("cli") if record else None) or engine_cli() or "docker"
        resolved = record.resolved if record is not None else ""
        image = (
            f"{package.image}@{resolved}"
            if resolved.startswith("sha256:")
            else f"{package.image}:{package.version}"
        )
        env_flags = [flag for key in spec.env for flag in ("-e", key)]  # values come through the environment
        network = spec.network or NetworkConfig()
        sandbox = container_flags(spec.sandbox or SandboxConfig(), network, cli=cli)
        run = (cli, "run", "-i", "--rm", "--init", *sandbox, *package.run_args, *env_flags, image, *spec.args)
        command, env = sandboxed_command(server, cli, run, network)
        engine_env = {key: os.environ[key] for key in ENGINE_ENV_KEYS if key in os.environ}
        return LaunchSpec(command=command, env={**engine_env, **env})
