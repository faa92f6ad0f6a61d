"""Container images, pulled and run through the Docker CLI or a compatible one (podman)."""

from __future__ import annotations

import shutil

from mcpfleet.config import OciPackage, ServerSpec
from mcpfleet.exceptions import InstallError, PackageNotFoundError, ToolchainMissingError
from mcpfleet.home import FleetHome
from mcpfleet.install.base import BaseInstaller, LaunchSpec, Report, run_tool
from mcpfleet.install.lock import LockRecord

__all__ = ["OciInstaller"]


def engine_cli() -> str | None:
    return shutil.which("docker") or shutil.which("podman")


class OciInstaller(BaseInstaller):
    kind = "oci"

    async def _engine(self, server: str) -> str:
        cli = engine_cli()
        if cli is None:
            raise ToolchainMissingError(
                server, "it is a container image, and neither `docker` nor `podman` is on PATH; install one"
            )
        info = await run_tool([cli, "info", "--format", "{{.ServerVersion}}"], timeout=30)
        if info.code != 0:
            raise ToolchainMissingError(
                server,
                f"it is a container image, and `{cli}` finds no running container engine "
                f"({info.tail(2) or 'no answer'}); start the Docker daemon (or use podman), "
                "then install again",
            )
        return cli

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
        if pulled.code != 0:
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
        return LaunchSpec(
            command=(cli, "run", "-i", "--rm", "--init", *package.run_args, *env_flags, image, *spec.args)
        )
