"""The official MCP Registry's ``server.json`` format, as pydantic models.

    {"name": "io.github.acme/weather", "description": "Forecasts", "version": "1.2.0",
     "packages": [{"registryType": "npm", "identifier": "@acme/weather-mcp", "version": "1.2.0",
                   "transport": {"type": "stdio"},
                   "environmentVariables": [{"name": "WEATHER_KEY", "isRequired": true, "isSecret": true}]}],
     "remotes": [{"type": "streamable-http", "url": "https://weather.acme.com/mcp",
                  "headers": [{"name": "Authorization", "value": "Bearer {key}",
                               "variables": {"key": {"isRequired": true, "isSecret": true}}}]}]}

Field names are camelCase on the wire and snake_case in Python (either is accepted).
``{curly}`` identifiers in a ``value`` or URL name entries of the input's ``variables`` map.
Only the fields mcpfleet uses are typed.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "Argument",
    "EnvironmentVariable",
    "Input",
    "Package",
    "Remote",
    "Repository",
    "ServerJson",
    "Transport",
]


class _Wire(BaseModel):
    # Unlike mcpfleet's own config (extra="forbid"), this is wire data from an external registry
    # that adds fields over time: unknown fields are ignored, so a newer registry never breaks an
    # older mcpfleet. Free strings instead of enums (registryType, transport type) for the same reason.
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True)


class Input(_Wire):
    """A value the user may have to provide: a variable, and the base of every other input."""

    description: str = ""
    is_required: bool = False
    is_secret: bool = False
    format: str | None = Field(None, description="string, number, boolean or filepath")
    value: str | None = Field(None, description="fixed value; {name} refers to `variables`")
    default: str | None = None
    placeholder: str | None = None
    choices: list[str] = Field(default_factory=list)


class EnvironmentVariable(Input):
    """A ``KeyValueInput``: an environment variable of a package, or an HTTP header of a remote."""

    name: str
    variables: dict[str, Input] = Field(default_factory=dict)


class Argument(Input):
    """A ``positional`` argument (``value`` or ``valueHint``) or a ``named`` one (``--flag value``)."""

    type: str = "positional"
    name: str | None = Field(None, description="the flag of a named argument, dashes included")
    value_hint: str | None = Field(None, description="label of a positional argument")
    is_repeated: bool = False
    variables: dict[str, Input] = Field(default_factory=dict)


class Transport(_Wire):
    """How a package talks: ``stdio``, or ``streamable-http`` / ``sse`` on a URL it serves."""

    type: str = "stdio"
    url: str | None = None
    headers: list[EnvironmentVariable] = Field(default_factory=list)


class Package(_Wire):
    """One way to install the server: an npm, PyPI, OCI, NuGet or MCPB package."""

    registry_type: str = Field(description="npm, pypi, oci, nuget, mcpb, ...")
    identifier: str = Field(description="package name; for OCI the image reference, tag included")
    version: str | None = Field(None, description="npm, PyPI and NuGet; OCI puts it in the identifier")
    registry_base_url: str | None = None
    file_sha256: str | None = None
    runtime_hint: str | None = Field(None, description="npx, uvx, docker, dnx")
    transport: Transport = Field(default_factory=Transport)
    runtime_arguments: list[Argument] = Field(default_factory=list)
    package_arguments: list[Argument] = Field(default_factory=list)
    environment_variables: list[EnvironmentVariable] = Field(default_factory=list)


class Remote(_Wire):
    """A hosted endpoint of the server."""

    type: str = "streamable-http"
    url: str
    headers: list[EnvironmentVariable] = Field(default_factory=list)
    variables: dict[str, Input] = Field(default_factory=dict, description="for {name} in the URL")


class Repository(_Wire):
    url: str
    source: str = ""
    subfolder: str | None = None


class ServerJson(_Wire):
    """One server as the registry describes it; ``name`` is ``namespace/name``, e.g. ``io.github.acme/x``."""

    name: str
    description: str = ""
    version: str = "latest"
    title: str | None = None
    website_url: str | None = None
    repository: Repository | None = None
    packages: list[Package] = Field(default_factory=list)
    remotes: list[Remote] = Field(default_factory=list)
