"""Registry entries (npm, PyPI, OCI packages and remote-only servers) turned into fleet servers."""

from __future__ import annotations

from typing import Any

import pytest

from mcpfleet.catalog import CatalogEntry, ServerJson
from mcpfleet.config import NpmPackage, OciPackage, PypiPackage, RemotePackage, ServerSpec
from mcpfleet.exceptions import CatalogError
from mcpfleet.secrets import resolve, resolve_all

SECRET = {"isRequired": True, "isSecret": True}


def entry(**server: Any) -> CatalogEntry:
    data = {"name": "io.github.acme/thing", "description": "a thing", "version": "1.0.0", **server}
    return CatalogEntry("thing", ("io.github.acme/thing",), ServerJson.model_validate(data), "registry")


def package(registry_type: str, identifier: str, **fields: Any) -> dict[str, Any]:
    return {"registryType": registry_type, "identifier": identifier, "transport": {"type": "stdio"}, **fields}


def test_an_npm_package_with_environment_and_arguments() -> None:
    thing = entry(
        packages=[
            package(
                "npm", "@acme/thing", version="1.2.3",
                environmentVariables=[
                    {"name": "ACME_KEY", "description": "API key", **SECRET},
                    {"name": "LOG_LEVEL", "default": "info"},
                    {"name": "ACME_REGION"},  # optional, no default: left unset
                    {"name": "AUTH_HEADER", "value": "Bearer {token}", "variables": {"token": SECRET}},
                ],
                packageArguments=[
                    {"type": "positional", "valueHint": "target_dir", "isRequired": True},
                    {"type": "named", "name": "--mode", "value": "read-only"},
                    {"type": "named", "name": "--verbose"},  # optional, no value: left out
                    {"type": "named", "name": "--port", "isRequired": True, "default": "8080"},
                ],
            )
        ]
    )  # fmt: skip
    spec = thing.to_server_spec()
    assert spec.package == NpmPackage(name="@acme/thing", version="1.2.3")
    assert spec.env == {
        "ACME_KEY": "${ACME_KEY}",
        "LOG_LEVEL": "${LOG_LEVEL:-info}",
        "AUTH_HEADER": "Bearer ${TOKEN}",
    }
    assert spec.args == ["${TARGET_DIR}", "--mode", "read-only", "--port", "${PORT:-8080}"]
    assert thing.required_env() == ["ACME_KEY", "TOKEN", "TARGET_DIR"]
    variables = {"ACME_KEY": "k", "TOKEN": "t", "TARGET_DIR": "/srv"}
    assert resolve_all(spec.env, variables, where="env") == {
        "ACME_KEY": "k",
        "LOG_LEVEL": "info",
        "AUTH_HEADER": "Bearer t",
    }
    assert [resolve(a, variables, where="args") for a in spec.args] == [
        "/srv",
        "--mode",
        "read-only",
        "--port",
        "8080",
    ]


def test_text_from_the_registry_stays_literal() -> None:
    # A registry entry must not be able to make mcpfleet hand it another variable.
    thing = entry(
        packages=[
            package(
                "npm", "@acme/thing", version="1.0.0",
                environmentVariables=[{"name": "HOME_COPY", "value": "${AWS_SECRET_ACCESS_KEY}/x"}],
                packageArguments=[{"type": "positional", "value": "$PATH and ${HOME}"}],
            )
        ]
    )  # fmt: skip
    spec = thing.to_server_spec()
    secrets = {"AWS_SECRET_ACCESS_KEY": "s3cr3t", "HOME": "/root"}
    assert resolve_all(spec.env, secrets, where="env") == {"HOME_COPY": "${AWS_SECRET_ACCESS_KEY}/x"}
    assert resolve(spec.args[0], secrets, where="args") == "$PATH and ${HOME}"
    assert thing.required_env() == []


def test_npm_then_pypi_then_oci_and_only_stdio_packages() -> None:
    http = {"type": "streamable-http", "url": "http://localhost:8080/mcp"}
    http_npm = package("npm", "@acme/http-only", version="1.0.0", transport=http)
    pypi = package("pypi", "acme-thing", version="0.4.0")
    oci = package("oci", "docker.io/acme/thing:0.4.0")
    assert entry(packages=[oci, pypi, http_npm]).to_server_spec().package == PypiPackage(
        name="acme-thing", version="0.4.0"
    )
    assert entry(packages=[oci, http_npm]).to_server_spec().package == OciPackage(
        image="docker.io/acme/thing", version="0.4.0"
    )
    assert entry(packages=[oci, http_npm]).package() == entry(packages=[oci]).package()
    public = package("npm", "@acme/thing", version="1.0.0", registryBaseUrl="https://registry.npmjs.org/")
    assert entry(packages=[public]).to_server_spec().package == NpmPackage(
        name="@acme/thing", version="1.0.0"
    )


@pytest.mark.parametrize(
    ("identifier", "version", "image", "tag"),
    [
        ("ghcr.io/acme/weather:2.0.0", None, "ghcr.io/acme/weather", "2.0.0"),
        ("localhost:5000/acme/weather", "1.1", "localhost:5000/acme/weather", "1.1"),
        ("localhost:5000/acme/weather:3", None, "localhost:5000/acme/weather", "3"),
        ("docker.io/acme/weather:2@sha256:abc123", None, "docker.io/acme/weather", "sha256:abc123"),
        ("mcp/weather", None, "mcp/weather", "latest"),
    ],
)
def test_oci_image_references(identifier: str, version: str | None, image: str, tag: str) -> None:
    fields = {"version": version} if version else {}
    spec = entry(packages=[package("oci", identifier, **fields)]).to_server_spec()
    assert spec.package == OciPackage(image=image, version=tag)


def test_oci_runtime_arguments_become_env_and_run_args() -> None:
    weather = entry(
        packages=[
            package(
                "oci", "ghcr.io/acme/weather:2.0.0",
                runtimeHint="docker",
                runtimeArguments=[
                    {"type": "named", "name": "-e", "value": "WEATHER_KEY={weather_key}",
                     "variables": {"weather_key": SECRET}},
                    {"type": "named", "name": "--network", "value": "none"},
                ],
                packageArguments=[{"type": "positional", "value": "stdio"}],
            )
        ]
    )  # fmt: skip
    spec = weather.to_server_spec()
    assert isinstance(spec.package, OciPackage)
    assert spec.package.run_args == ["--network", "none"]
    assert spec.env == {"WEATHER_KEY": "${WEATHER_KEY}"}
    assert spec.args == ["stdio"]
    assert weather.required_env() == ["WEATHER_KEY"]


def test_a_runtime_argument_mcpfleet_cannot_ask_for_is_an_error() -> None:
    variables = {"data_dir": {"isRequired": True}}
    volume = {"type": "named", "name": "-v", "value": "{data_dir}:/data", "variables": variables}
    thing = entry(packages=[package("oci", "ghcr.io/acme/thing:1", runtimeArguments=[volume])])
    with pytest.raises(CatalogError, match=r"data_dir .*by hand"):
        thing.to_server_spec()


def test_a_remote_only_server() -> None:
    hosted = entry(
        remotes=[
            {"type": "sse", "url": "https://mcp.example.com/sse"},
            {"type": "streamable-http", "url": "https://mcp.example.com/mcp",
             "headers": [
                 {"name": "Authorization", "value": "Bearer {token}", "variables": {"token": SECRET}},
                 {"name": "X-Api-Key", **SECRET},
                 {"name": "X-Tenant", "default": "acme"},
                 {"name": "X-Trace"},
             ]},
        ]
    )  # fmt: skip
    spec = hosted.to_server_spec()
    assert spec == ServerSpec(
        package=RemotePackage(url="https://mcp.example.com/mcp"),
        headers={
            "Authorization": "Bearer ${TOKEN}",
            "X-Api-Key": "${X_API_KEY}",
            "X-Tenant": "${X_TENANT:-acme}",
        },
        description="a thing",
    )
    assert hosted.required_env() == ["TOKEN", "X_API_KEY"]
    assert hosted.package() is None


def test_remote_url_variables() -> None:
    def remote(tenant: dict[str, Any]) -> CatalogEntry:
        url = "https://{tenant}.example.com/mcp"
        return entry(remotes=[{"type": "streamable-http", "url": url, "variables": {"tenant": tenant}}])

    spec = remote({"default": "acme"}).to_server_spec()
    assert spec.package == RemotePackage(url="https://acme.example.com/mcp")
    with pytest.raises(CatalogError, match="tenant \\(your tenant\\)"):
        remote({"isRequired": True, "description": "your tenant"}).to_server_spec()


def test_a_package_mcpfleet_cannot_run_falls_back_to_a_remote() -> None:
    mcpb = package("mcpb", "https://github.com/acme/thing/releases/download/v1/thing.mcpb")
    both = entry(packages=[mcpb], remotes=[{"type": "streamable-http", "url": "https://acme.dev/mcp"}])
    assert both.to_server_spec().package == RemotePackage(url="https://acme.dev/mcp")


@pytest.mark.parametrize(
    ("server", "offered"),
    [
        ({"remotes": [{"type": "sse", "url": "https://acme.dev/sse"}]}, "a sse remote"),
        ({"packages": [package("nuget", "Acme.Thing", version="1.0.0")]}, "nuget over stdio"),
        # The same name on the public registry may be someone else's package.
        (
            {
                "packages": [
                    package("npm", "@acme/thing", version="1", registryBaseUrl="https://npm.acme.dev")
                ]
            },
            "npm over stdio from https://npm.acme.dev",
        ),
        ({}, "no package or remote"),
    ],
)
def test_nothing_runnable_is_a_clear_error(server: dict[str, Any], offered: str) -> None:
    thing = entry(**server)
    with pytest.raises(CatalogError, match=f"offers nothing mcpfleet can run \\({offered}\\).*by hand"):
        thing.to_server_spec()
    assert thing.required_env() == []


def test_server_json_reads_camel_case_and_snake_case_and_ignores_unknown_fields() -> None:
    wire = {
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": "io.github.acme/thing", "description": "d", "version": "1.0.0", "brandNewField": [1, 2],
        "packages": [{"registryType": "pypi", "identifier": "acme-thing", "version": "1.0.0",
                      "transport": {"type": "stdio"}, "futureOption": True,
                      "environmentVariables": [{"name": "K", "isRequired": True, "isSecret": True}]}],
    }  # fmt: skip
    server = ServerJson.model_validate(wire)
    variable = server.packages[0].environment_variables[0]
    assert (variable.is_required, variable.is_secret) == (True, True)
    dumped = server.model_dump(by_alias=True, exclude_defaults=True)
    assert dumped["packages"][0]["registryType"] == "pypi"
    assert dumped["packages"][0]["environmentVariables"] == [
        {"name": "K", "isRequired": True, "isSecret": True}
    ]
    assert ServerJson.model_validate(server.model_dump()) == server  # snake_case too
