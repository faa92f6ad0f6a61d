"""A tool's ``inputSchema`` as an HTML form, and the submitted form back as tool arguments.

    fields = form_fields(tool["inputSchema"])
    arguments, problems = arguments_from(tool["inputSchema"], {"timezone": "Europe/Paris"})

Strings, numbers, integers, enums and booleans get their own inputs; arrays, objects and
anything else are JSON in a text area, checked on the way back. An empty optional field is
left out of the arguments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "arguments_from", "form_fields"]


@dataclass(frozen=True)
class Field:
    """One input: ``kind`` is text, number, integer, enum, boolean or json."""

    name: str
    kind: str
    required: bool
    description: str
    choices: tuple[str, ...] = ()
    default: str = ""
    placeholder: str = ""


def _type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the first that is not null
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _kind(schema: dict[str, Any]) -> str:
    if isinstance(schema.get("enum"), list) and all(isinstance(v, str) for v in schema["enum"]):
        return "enum"
    return {"string": "text", "number": "number", "integer": "integer", "boolean": "boolean"}.get(
        _type(schema) or "", "json"
    )


def form_fields(schema: dict[str, Any] | None) -> list[Field]:
    """The inputs for an ``inputSchema`` (an object schema; others have no fields)."""
    properties = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or [])
    fields = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kind = _kind(prop)
        default = prop.get("default")
        if default is None:
            shown = ""
        elif kind == "json":
            shown = json.dumps(default)
        else:
            shown = str(default).lower() if isinstance(default, bool) else str(default)
        placeholder = {"json": "[]" if _type(prop) == "array" else "{}"}.get(kind, "")
        fields.append(
            Field(
                name=name,
                kind=kind,
                required=name in required,
                description=str(prop.get("description") or prop.get("title") or ""),
                choices=tuple(prop["enum"]) if kind == "enum" else (),
                default=shown,
                placeholder=placeholder if kind == "json" else str(prop.get("examples", [""])[0] or ""),
            )
        )
    return fields


def _value(field: Field, schema: dict[str, Any], raw: str) -> Any:
    """The argument a field's text stands for, or ValueError saying what is wrong with it."""
    if field.kind == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw.lower() == "true"
    if field.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if field.kind == "number":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        return int(number) if number.is_integer() and "." not in raw else number
    if field.kind == "enum":
        if raw not in field.choices:
            raise ValueError(f"must be one of {', '.join(field.choices)}")
        return raw
    if field.kind == "json":
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
        expected = _type(schema)
        python = {"array": list, "object": dict}.get(expected or "")
        if python is not None and not isinstance(value, python):
            raise ValueError(f"must be a JSON {expected}")
        return value
    return raw


def arguments_from(
    schema: dict[str, Any] | None, form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(arguments, problems by field)`` from the submitted ``arg.NAME`` fields; an empty one is
    left out (or, when required, a problem)."""
    properties = (schema or {}).get("properties") or {}
    arguments: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in form_fields(schema):
        prop = properties.get(field.name) or {}
        raw = form.get(f"arg.{field.name}")
        if raw is None or raw.strip() == "":
            if field.required:
                problems[field.name] = "is required"
            continue
        try:
            arguments[field.name] = _value(field, prop, raw.strip() if field.kind != "text" else raw)
        except ValueError as exc:
            problems[field.name] = str(exc)
    return arguments, problems
