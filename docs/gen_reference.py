"""Reference pages made at build time (mkdocs-gen-files), so they cannot drift from the code.

- reference/configuration.md: every model of the fleet file, from the pydantic models;
- reference/cli.md: every command and option, from the typer app;
- reference/admin-api.md: every path of the admin API, from the OpenAPI document it serves.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from enum import Enum
from typing import Any

import click
import mkdocs_gen_files
import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from mcpfleet.cli.main import app
from mcpfleet.config import FleetConfig
from mcpfleet.gateway.admin import OPENAPI


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        key, value = typing.get_args(annotation) or (str, Any)
        return f"map {_type_name(key)} → {_type_name(value)}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        if issubclass(annotation, Enum):
            return " \\| ".join(f"`{m.value}`" for m in annotation)
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default is not PydanticUndefined:
        value = field.default.value if isinstance(field.default, Enum) else field.default
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{json.dumps(value, default=str)}`"
    if field.default_factory is not None:
        return "see below" if field.annotation and list(_models_in(field.annotation)) else "empty"
    return "required"


def configuration() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Made from the fleet file's pydantic models at build time. The guide to these settings,",
        "with examples, is [Configuration](../configuration.md).",
        "",
    ]
    seen: set[type[BaseModel]] = set()
    queue: list[type[BaseModel]] = [FleetConfig]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.add(model)
        doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        lines += [
            f"## {model.__name__}",
            "",
            doc,
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for name, field in model.model_fields.items():
            key = field.alias or name
            lines.append(
                f"| `{key}` | {_cell(_type_name(field.annotation))} | {_cell(_default(field))} "
                f"| {_cell(field.description or '')} |"
            )
            queue += [m for m in _models_in(field.annotation) if m not in seen]
        lines.append("")
    return "\n".join(lines)


def _commands(group: click.Command, prefix: str) -> Iterator[tuple[str, click.Command]]:
    yield prefix, group
    # typer's groups are click groups in duck type only (typer carries its own click classes).
    commands: dict[str, click.Command] = getattr(group, "commands", {})
    for name in sorted(commands):
        yield from _commands(commands[name], f"{prefix} {name}")


def cli() -> str:
    root = typer.main.get_command(app)
    lines = ["# Command reference", "", "Made from the `mcpfleet` command at build time.", ""]
    for path, command in _commands(root, "mcpfleet"):
        if command.hidden:
            continue
        ctx = click.Context(command, info_name=path)
        usage = " ".join(command.collect_usage_pieces(ctx))
        lines += [f"## `{path}`", "", (command.help or "").strip(), "", f"```\n{path} {usage}\n```", ""]
        params = [p for p in command.params if not getattr(p, "hidden", False) and p.name != "help"]
        if params:
            lines += ["| argument or option | meaning | default |", "|---|---|---|"]
            for param in params:
                if getattr(param, "param_type_name", "") == "option":
                    names = ", ".join(f"`{o}`" for o in param.opts)
                else:
                    names = f"`{(param.name or '').upper()}`"
                meaning = getattr(param, "help", None) or ""
                default = (
                    ""
                    if param.default in (None, (), False) or callable(param.default)
                    else f"`{param.default}`"
                )
                lines.append(f"| {names} | {_cell(meaning)} | {_cell(default)} |")
            lines.append("")
    return "\n".join(lines)


def admin_api() -> str:
    info = OPENAPI.get("info", {})
    lines = [
        "# Admin API reference",
        "",
        f"{info.get('description', '')} Made from the OpenAPI document the gateway serves at",
        "`/api/v1/openapi.json` (version " + str(info.get("version", "")) + ").",
        "",
    ]
    for path, operations in OPENAPI.get("paths", {}).items():
        for method, op in operations.items():
            if not isinstance(op, dict):
                continue
            lines += [f"## `{method.upper()} {path}`", "", op.get("summary", ""), ""]
            if op.get("description"):
                lines += [op["description"], ""]
            params = op.get("parameters", [])
            if params:
                lines += ["| parameter | in | meaning |", "|---|---|---|"]
                lines += [
                    f"| `{p['name']}` | {p.get('in', '')} | {_cell(p.get('description', ''))} |"
                    for p in params
                ]
                lines.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if body:
                lines += [f"Request body: {_schema_name(body.get('schema', {}))}", ""]
            for status, response in op.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                what = response.get("description") or _schema_name(schema)
                lines.append(f"- **{status}**: {_cell(what)}")
            lines.append("")
    lines += ["## Schemas", ""]
    for name, schema in OPENAPI.get("components", {}).get("schemas", {}).items():
        lines += [f"### {name}", "", "```json", json.dumps(schema, indent=2), "```", ""]
    return "\n".join(lines)


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    return f"`{json.dumps(schema)}`"


for name, render in (("configuration", configuration), ("cli", cli), ("admin-api", admin_api)):
    with mkdocs_gen_files.open(f"reference/{name}.md", "w") as out:
        out.write(render())
