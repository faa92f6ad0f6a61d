"""What a server runs: the package kinds of the fleet file (``package: {type: ...}``).

``npm`` and ``pypi`` packages are installed into the fleet home, ``oci`` images run in a
container engine, ``command`` runs what is already on the machine, ``remote`` is reached
over streamable HTTP. :data:`PackageSpec` is the union, told apart by ``type``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mcpfleet.models import ConfigModel

__all__ = [
    "CommandPackage",
    "NpmPackage",
    "OciPackage",
    "PackageSpec",
    "PypiPackage",
    "RemotePackage",
]


class NpmPackage(ConfigModel):
    """A package from the npm registry, run with node from ``servers/<name>/``."""

    type: Literal["npm"] = "npm"
    name: str = Field(min_length=1, description="npm package name, e.g. @modelcontextprotocol/server-memory")
    version: str = Field(
        "latest", description="exact version, dist-tag or range; resolved and locked at install"
    )
    bin: str | None = Field(None, description="which of the package's bin entries to run, if it has several")
    overrides: dict[str, str | dict[str, str]] = Field(
        default_factory=dict,
        description="npm `overrides` for its dependencies (name -> version, or a nested map), written "
        "into the server's package.json before install",
    )

    @property
    def identifier(self) -> str:
        return self.name


class PypiPackage(ConfigModel):
    """A package from PyPI, installed with uv into its own virtual environment."""

    type: Literal["pypi"] = "pypi"
    name: str = Field(min_length=1)
    version: str = "latest"
    bin: str | None = Field(None, description="console script to run; defaults to the package name")
    python: str | None = Field(None, description="Python version for its venv, e.g. '3.12'")
    constraints: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][^\n\r#]*$")]] = Field(
        default_factory=list,
        description="version constraints on its dependencies, e.g. 'mcp<2' (uv pip install --constraint)",
    )

    @property
    def identifier(self) -> str:
        return self.name


class OciPackage(ConfigModel):
    """A container image, pulled and run through the Docker CLI (or a compatible engine)."""

    type: Literal["oci"] = "oci"
    image: str = Field(min_length=1, description="image reference without tag, e.g. mcp/fetch")
    version: str = "latest"
    run_args: list[str] = Field(default_factory=list, description="extra arguments for `docker run`")

    @property
    def identifier(self) -> str:
        return self.image


class CommandPackage(ConfigModel):
    """A command already on this machine (or given by path); nothing is installed."""

    type: Literal["command"] = "command"
    command: str = Field(min_length=1)
    version: str = "unmanaged"

    @property
    def identifier(self) -> str:
        return self.command


class RemotePackage(ConfigModel):
    """A server already running elsewhere, reached over streamable HTTP."""

    type: Literal["remote"] = "remote"
    url: str = Field(pattern=r"^https?://", description="the server's MCP endpoint URL")
    version: str = "remote"

    @property
    def identifier(self) -> str:
        return self.url


PackageSpec = Annotated[
    NpmPackage | PypiPackage | OciPackage | CommandPackage | RemotePackage,
    Field(discriminator="type"),
]
