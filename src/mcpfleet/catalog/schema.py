"""The official MCP Registry's ``server.json`` format, as pydantic models.

Only the fields mcpfleet uses are typed. Unknown fields are ignored rather than refused: this
is wire data from a registry that adds fields over time, and a newer registry must not break
an older mcpfleet.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["Argument", "EnvironmentVariable", "Package", "Remote", "ServerJson", "Transport"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True)


class EnvironmentVariable(_Wire):
    name: str
    description: str = ""
    is_required: bool = False
    is_secret: bool = False
    default: str | None = None
    format: str | None = None
    value: str | None = Field(None, description="a fixed value or template (remote headers)")


class Argument(_Wire):
    """A ``positional`` or ``named`` argument of a package or its runtime."""

    type: Literal["positional", "named"] = "positional"
    name: str | None = None
    value: str | None = None
    value_hint: str | None = None
    default: str | None = None
    description: str = ""
    is_required: bool = False


class Transport(_Wire):
    type: Literal["stdio", "streamable-http", "sse"] = "stdio"
    url: str | None = None


class Package(_Wire):
    registry_type: Literal["npm", "pypi", "oci", "nuget", "mcpb"]
    identifier: str
    version: str = "latest"
    registry_base_url: str | None = None
    transport: Transport = Field(default_factory=Transport)
    environment_variables: list[EnvironmentVariable] = Field(default_factory=list)
    package_arguments: list[Argument] = Field(default_factory=list)
    runtime_arguments: list[Argument] = Field(default_factory=list)


class Remote(_Wire):
    type: Literal["streamable-http", "sse"] = "streamable-http"
    url: str
    headers: list[EnvironmentVariable] = Field(default_factory=list)


class ServerJson(_Wire):
    """One server as the registry describes it (``io.github.owner/name``)."""

    name: str
    description: str = ""
    title: str | None = None
    version: str = "latest"
    website_url: str | None = None
    packages: list[Package] = Field(default_factory=list)
    remotes: list[Remote] = Field(default_factory=list)
