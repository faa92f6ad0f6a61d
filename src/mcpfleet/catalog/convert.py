"""From a ``server.json`` to a fleet :class:`~mcpfleet.config.ServerSpec`.

What the user must provide becomes a ``${NAME}`` reference, resolved only when the server starts,
so no secret is ever written to the fleet file:

- an environment variable: ``${NAME}`` if required, ``${NAME:-default}`` if it has a default,
  left out if optional;
- an argument: the same, named after its ``valueHint`` (``db_path`` -> ``${DB_PATH}``);
- ``{name}`` in a ``value``: the entry of its ``variables`` map, the same way;
- a header of a remote: like an environment variable, named after the header.

Text that comes from the registry is kept literal (``$`` becomes ``$$``): a registry entry cannot
make mcpfleet hand it another variable. Built-in entries are trusted to use ``${MCPFLEET_SERVER_DATA}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from mcpfleet.catalog.builtin import PinnedPackage
from mcpfleet.catalog.schema import Argument, EnvironmentVariable, Input, Package, Remote, ServerJson
from mcpfleet.config import NpmPackage, OciPackage, PypiPackage, RemotePackage, ServerSpec
from mcpfleet.exceptions import CatalogError
from mcpfleet.secrets import references

__all__ = [
    "PACKAGE_TYPES",
    "oci_reference",
    "required_variables",
    "runnable_packages",
    "to_server_spec",
    "variable_name",
]

# What mcpfleet can install, in order of preference: no container engine needed for the first two.
PACKAGE_TYPES = ("npm", "pypi", "oci")
# mcpfleet installs from these only; the same name on another registry may be another package.
_PUBLIC_REGISTRIES = {"npm": "https://registry.npmjs.org", "pypi": "https://pypi.org"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def variable_name(label: str) -> str:
    """The variable for a label: ``api_key`` -> ``API_KEY``, ``--db-path`` -> ``DB_PATH``."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", label).strip("_").upper()
    return name if _NAME.fullmatch(name) else f"VALUE_{name}" if name else "VALUE"


def oci_reference(identifier: str, version: str | None) -> tuple[str, str]:
    """``(image, tag or sha256:digest)``; the identifier's own tag or digest wins over ``version``."""
    image, at, digest = identifier.partition("@")
    head, slash, last = image.rpartition("/")  # a registry host may have a port: host:5000/img
    name, colon, tag = last.partition(":")
    image = f"{head}{slash}{name}"
    return image, digest if at else tag if colon else version or "latest"


class _Render:
    """Turns inputs into strings. ``templated``: the result is resolved at launch (env, args,
    headers), so it may hold ``${NAME}``; otherwise (docker run args, URLs) it must be final."""

    def __init__(self, where: str, *, trusted: bool, templated: bool = True) -> None:
        self.where = where
        self.trusted = trusted
        self.templated = templated

    def literal(self, text: str) -> str:
        return text if self.trusted or not self.templated else text.replace("$", "$$")

    def ask(self, name: str, spec: Input, *, label: str = "", inside: bool = False) -> str | None:
        """What the user provides for ``spec`` (``${name}``); None when it is optional and has no default."""
        default = spec.default
        if not self.templated:
            if default is not None:
                return default
            if spec.is_required:
                what = f"{label or name} ({spec.description})" if spec.description else label or name
                raise CatalogError(
                    f"{self.where} needs a value for {what} that mcpfleet cannot ask for there; "
                    "add the server to mcpfleet.yaml by hand with that value filled in"
                )
            return "" if inside else None
        if default is not None and "}" not in default:
            return f"${{{name}:-{default}}}"
        if spec.is_required:
            return f"${{{name}}}"
        if default is not None:
            return self.literal(default)
        return f"${{{name}:-}}" if inside else None

    def value(self, spec: Input, variables: Mapping[str, Input], name: str) -> str | None:
        """A fixed value with its ``{placeholders}`` filled in, else what the user provides."""
        if spec.value is None:
            return self.ask(name, spec)
        parts: list[str] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(spec.value):
            variable = variables.get(match.group(1))
            if variable is None:
                continue  # the spec says: an unknown {name} stays as it is
            parts.append(self.literal(spec.value[pos : match.start()]))
            if variable.value is not None:
                parts.append(self.literal(variable.value))
            else:
                key = match.group(1)
                parts.append(self.ask(variable_name(key), variable, label=key, inside=True) or "")
            pos = match.end()
        parts.append(self.literal(spec.value[pos:]))
        return "".join(parts)

    def arguments(self, arguments: Sequence[Argument]) -> list[str]:
        out: list[str] = []
        for arg in arguments:
            if arg.type == "named" and arg.name:
                value = self.value(arg, arg.variables, variable_name(arg.value_hint or arg.name))
                if value is not None:
                    out += [arg.name, value] if value else [arg.name]
            elif arg.type != "named":
                value = self.value(arg, arg.variables, variable_name(arg.value_hint or "value"))
                if value is not None:
                    out.append(value)
        return out

    def mapping(self, items: Sequence[EnvironmentVariable], *, headers: bool = False) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in items:
            if not item.name or "=" in item.name or "\0" in item.name:
                continue
            name = variable_name(item.name) if headers or not _NAME.fullmatch(item.name) else item.name
            value = self.value(item, item.variables, name)
            if value is not None:
                out[item.name] = value
        return out


def _package_spec(server: ServerJson, package: Package, *, trusted: bool) -> ServerSpec:
    where = f"{server.name} ({package.registry_type} {package.identifier})"
    render = _Render(where, trusted=trusted)
    env = render.mapping(package.environment_variables)
    args = render.arguments(package.package_arguments)
    kind = package.registry_type
    spec_package: NpmPackage | PypiPackage | OciPackage
    pinned = package if trusted and isinstance(package, PinnedPackage) else None
    if kind == "npm":
        spec_package = NpmPackage(
            name=package.identifier,
            version=package.version or "latest",
            overrides=dict(pinned.overrides) if pinned else {},
        )
    elif kind == "pypi":
        spec_package = PypiPackage(
            name=package.identifier,
            version=package.version or "latest",
            constraints=list(pinned.constraints) if pinned else [],
            python=pinned.python if pinned else None,
        )
    else:
        image, version = oci_reference(package.identifier, package.version)
        run_args, run_env = _docker_arguments(package.runtime_arguments, render, where)
        env = {**run_env, **env}
        spec_package = OciPackage(image=image, version=version, run_args=run_args)
    return ServerSpec(package=spec_package, args=args, env=env, description=server.description)


def _docker_arguments(
    arguments: Sequence[Argument], render: _Render, where: str
) -> tuple[list[str], dict[str, str]]:
    """``docker run`` arguments: ``-e NAME=value`` become env (the installer passes env on);
    the rest must be final, as nothing resolves references in ``run_args``."""
    fixed = _Render(where, trusted=render.trusted, templated=False)
    run_args: list[str] = []
    env: dict[str, str] = {}
    for arg in arguments:
        if arg.type == "named" and arg.name in ("-e", "--env"):
            value = render.value(arg, arg.variables, variable_name(arg.value_hint or "env"))
            name, eq, rest = (value or "").partition("=")
            if eq and _NAME.fullmatch(name):
                env[name] = rest
            elif value and _NAME.fullmatch(value):
                env[value] = f"${{{value}}}"
            continue
        run_args += fixed.arguments([arg])
    return run_args, env


def _remote_spec(server: ServerJson, remote: Remote, *, trusted: bool) -> ServerSpec:
    where = f"{server.name} ({remote.url})"
    url = _Render(where, trusted=trusted, templated=False).value(
        Input(value=remote.url, is_required=True), remote.variables, "url"
    )
    headers = _Render(where, trusted=trusted).mapping(remote.headers, headers=True)
    return ServerSpec(package=RemotePackage(url=url or ""), headers=headers, description=server.description)


def runnable_packages(server: ServerJson) -> list[Package]:
    """The packages mcpfleet can install and run, best first: npm, PyPI, OCI, over stdio, from the
    public npm registry and PyPI (the ``runtimeArguments`` of npx and uvx are not used)."""
    usable = [
        p
        for p in server.packages
        if p.registry_type in PACKAGE_TYPES
        and p.transport.type == "stdio"
        and (p.registry_base_url or "").rstrip("/") in ("", _PUBLIC_REGISTRIES.get(p.registry_type, ""))
    ]
    return sorted(usable, key=lambda p: PACKAGE_TYPES.index(p.registry_type))


def to_server_spec(server: ServerJson, *, trusted: bool = False) -> ServerSpec:
    """The first of the server's :func:`runnable_packages`, else its streamable-HTTP remote.
    ``trusted`` keeps ``${...}`` in the entry's own text (built-in entries)."""
    packages = runnable_packages(server)
    remotes = [r for r in server.remotes if r.type == "streamable-http"]
    problems: list[str] = []
    for package in packages:
        try:
            return _package_spec(server, package, trusted=trusted)
        except (CatalogError, ValueError) as exc:
            problems.append(str(exc))
    for remote in remotes:
        try:
            return _remote_spec(server, remote, trusted=trusted)
        except (CatalogError, ValueError) as exc:
            problems.append(str(exc))
    if problems:
        raise CatalogError(problems[0])
    offered = sorted(
        {f"{p.registry_type} over {p.transport.type}{_origin(p)}" for p in server.packages}
        | {f"a {r.type} remote" for r in server.remotes}
    )
    raise CatalogError(
        f"{server.name} offers nothing mcpfleet can run ({', '.join(offered) or 'no package or remote'}); "
        "mcpfleet runs npm (npmjs.org), PyPI (pypi.org) and OCI packages over stdio, and streamable-HTTP "
        "remotes. Add it to mcpfleet.yaml by hand as a `command` or `remote` server."
    )


def _origin(package: Package) -> str:
    return f" from {package.registry_base_url}" if package.registry_base_url else ""


def required_variables(spec: ServerSpec) -> list[str]:
    """Variables the spec needs that have no default (``MCPFLEET_*`` are the fleet's own)."""
    names: list[str] = []
    for value in (*spec.env.values(), *spec.args, *spec.headers.values()):
        for ref in references(value):
            if ref.startswith(("file:", "MCPFLEET_")) or f"${{{ref}:-" in value or ref in names:
                continue
            names.append(ref)
    return names
