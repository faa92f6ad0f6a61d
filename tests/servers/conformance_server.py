"""The fixture the MCP conformance suite tests, on stdio, built with the official SDK's low-level server.

tests/system/test_conformance.py runs it behind the gateway (``/servers/conformance/mcp``) and
points ``@modelcontextprotocol/conformance`` at that endpoint. Each tool, prompt and resource
here is one that a server scenario of the suite asks for by name, answering as the scenario's
description says (tests/servers/conformance/node_modules/@modelcontextprotocol/conformance).

Both protocol generations: handshake clients get progress, log messages and real
``sampling/createMessage`` / ``elicitation/create`` requests; 2026-07-28 clients get
``InputRequiredResult`` rounds (SEP-2322) with an HMAC-sealed ``requestState``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import os
import struct
import warnings
import wave
import zlib
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", module="mcp")


# ---------------------------------------------------------------------- fixture data


def _png_1x1_red() -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    return base64.b64encode(png).decode()


def _wav_silence() -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 80)  # 10 ms
    return base64.b64encode(buffer.getvalue()).decode()


PNG = _png_1x1_red()
WAV = _wav_silence()
MODERN = "2026-07-28"
LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
STATE_KEY = os.urandom(32)

JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}

NO_ARGS: dict[str, Any] = {"type": "object", "properties": {}}


def _string_args(*names: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {n: {"type": "string"} for n in names},
        "required": list(names),
    }


TOOLS: list[dict[str, Any]] = [
    {"name": "test_simple_text", "description": "Returns one text block", "inputSchema": NO_ARGS},
    {"name": "test_image_content", "description": "Returns a 1x1 PNG", "inputSchema": NO_ARGS},
    {"name": "test_audio_content", "description": "Returns a short WAV", "inputSchema": NO_ARGS},
    {"name": "test_embedded_resource", "description": "Returns an embedded resource", "inputSchema": NO_ARGS},
    {
        "name": "test_multiple_content_types",
        "description": "Returns text, image and resource",
        "inputSchema": NO_ARGS,
    },
    {"name": "test_tool_with_logging", "description": "Logs three messages", "inputSchema": NO_ARGS},
    {
        "name": "test_logging_tool",
        "description": "Logs three messages (server-stateless)",
        "inputSchema": NO_ARGS,
    },
    {
        "name": "test_streaming_elicitation",
        "description": "Asks the user while the call is open (server-stateless)",
        "inputSchema": NO_ARGS,
    },
    {"name": "test_tool_with_progress", "description": "Reports progress 0, 50, 100", "inputSchema": NO_ARGS},
    {"name": "test_error_handling", "description": "Always fails", "inputSchema": NO_ARGS},
    {"name": "test_sampling", "description": "Asks the client's LLM", "inputSchema": _string_args("prompt")},
    {"name": "test_elicitation", "description": "Asks the user", "inputSchema": _string_args("message")},
    {
        "name": "test_elicitation_sep1034_defaults",
        "description": "Elicitation with defaults",
        "inputSchema": NO_ARGS,
    },
    {
        "name": "test_elicitation_sep1330_enums",
        "description": "Elicitation with enums",
        "inputSchema": NO_ARGS,
    },
    {
        "name": "json_schema_2020_12_tool",
        "description": "Tool with JSON Schema 2020-12 features",
        "inputSchema": JSON_SCHEMA_2020_12,
    },
    {
        "name": "test_missing_capability",
        "description": "Needs the sampling capability",
        "inputSchema": NO_ARGS,
    },
    *(
        {
            "name": f"test_input_required_result_{n}",
            "description": f"InputRequiredResult: {n}",
            "inputSchema": NO_ARGS,
        }
        for n in (
            "elicitation",
            "sampling",
            "list_roots",
            "request_state",
            "multiple_inputs",
            "multi_round",
            "tampered_state",
            "capabilities",
        )
    ),
]

RESOURCES: dict[str, dict[str, Any]] = {
    "test://static-text": {
        "meta": {"name": "static-text", "description": "A static text resource", "mimeType": "text/plain"},
        "content": {"mimeType": "text/plain", "text": "This is the content of the static text resource."},
    },
    "test://static-binary": {
        "meta": {"name": "static-binary", "description": "A static PNG", "mimeType": "image/png"},
        "content": {"mimeType": "image/png", "blob": PNG},
    },
    "test://watched-resource": {
        "meta": {
            "name": "watched-resource",
            "description": "A resource to subscribe to",
            "mimeType": "text/plain",
        },
        "content": {"mimeType": "text/plain", "text": "Watched resource content."},
    },
}
TEMPLATE = "test://template/{id}/data"

PROMPTS: list[dict[str, Any]] = [
    {"name": "test_simple_prompt", "description": "A prompt without arguments"},
    {
        "name": "test_prompt_with_arguments",
        "description": "A prompt with two arguments",
        "arguments": [
            {"name": "arg1", "description": "First test argument", "required": True},
            {"name": "arg2", "description": "Second test argument", "required": True},
        ],
    },
    {
        "name": "test_prompt_with_embedded_resource",
        "description": "A prompt embedding a resource",
        "arguments": [
            {"name": "resourceUri", "description": "URI of the resource to embed", "required": True}
        ],
    },
    {"name": "test_prompt_with_image", "description": "A prompt with an image"},
    {"name": "test_input_required_result_prompt", "description": "A prompt that needs client input first"},
]


# ---------------------------------------------------------------------- helpers


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _tool_result(*content: dict[str, Any], is_error: bool = False) -> types.CallToolResult:
    return types.CallToolResult.model_validate({"content": list(content), "isError": is_error})


def _elicit(message: str, properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"method": "elicitation/create", "params": {"message": message, "requestedSchema": schema}}


def _sample(text: str, max_tokens: int) -> dict[str, Any]:
    return {
        "method": "sampling/createMessage",
        "params": {"messages": [{"role": "user", "content": _text(text)}], "maxTokens": max_tokens},
    }


ROOTS: dict[str, Any] = {"method": "roots/list", "params": {}}


def _seal(payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
    mac = hmac.new(STATE_KEY, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _unseal(state: str | None) -> dict[str, Any] | None:
    """The payload of a state this server minted; an error when it was altered."""
    if state is None:
        return None
    body, _, mac = state.rpartition(".")
    good = hmac.new(STATE_KEY, body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac, good):
        raise MCPError(code=types.INVALID_PARAMS, message="requestState failed its integrity check")
    try:
        return dict(json.loads(base64.urlsafe_b64decode(body)))
    except ValueError as exc:
        raise MCPError(code=types.INVALID_PARAMS, message="requestState is not readable") from exc


def _needs_input(requests: dict[str, Any], state: dict[str, Any] | None = None) -> types.InputRequiredResult:
    payload: dict[str, Any] = {"resultType": "input_required", "inputRequests": requests}
    if state is not None:
        payload["requestState"] = _seal(state)
    return types.InputRequiredResult.model_validate(payload)


def _responses(params: types.InputResponseRequestParams) -> dict[str, Any]:
    """The client's input responses as plain JSON (keys it did not send are absent)."""
    raw = params.input_responses or {}
    return {
        k: v.model_dump(by_alias=True, exclude_none=True) if hasattr(v, "model_dump") else v
        for k, v in raw.items()
    }


def _accepted(response: Any, field: str) -> Any:
    """The field of an accepted elicitation response, or None when it is not one."""
    if isinstance(response, dict) and response.get("action") == "accept":
        content = response.get("content")
        if isinstance(content, dict) and field in content:
            return content[field]
    return None


def _sampled_text(response: Any) -> str | None:
    if isinstance(response, dict):
        content = response.get("content")
        if isinstance(content, list):
            content = content[0] if content else None
        if isinstance(content, dict) and isinstance(content.get("text"), str):
            return content["text"]
    return None


def _capabilities(ctx: Any) -> dict[str, Any]:
    caps = ctx.session.client_capabilities
    return caps.model_dump(by_alias=True, exclude_none=True) if caps is not None else {}


# ---------------------------------------------------------------------- handlers

log_level = {"value": "debug"}


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult.model_validate({"tools": TOOLS})


async def call_tool(
    ctx: Any, params: types.CallToolRequestParams
) -> types.CallToolResult | types.InputRequiredResult:
    name, args = params.name, params.arguments or {}
    if name == "test_simple_text":
        return _tool_result(_text("This is a simple text response for testing."))
    if name == "test_image_content":
        return _tool_result({"type": "image", "data": PNG, "mimeType": "image/png"})
    if name == "test_audio_content":
        return _tool_result({"type": "audio", "data": WAV, "mimeType": "audio/wav"})
    if name == "test_embedded_resource":
        resource = {"uri": "test://embedded-resource", "mimeType": "text/plain"}
        return _tool_result(
            {"type": "resource", "resource": {**resource, "text": "This is an embedded resource content."}}
        )
    if name == "test_multiple_content_types":
        return _tool_result(
            _text("Multiple content types test:"),
            {"type": "image", "data": PNG, "mimeType": "image/png"},
            {
                "type": "resource",
                "resource": {
                    "uri": "test://mixed-content-resource",
                    "mimeType": "application/json",
                    "text": json.dumps({"test": "data", "value": 123}),
                },
            },
        )
    if name in ("test_tool_with_logging", "test_logging_tool"):
        for i, message in enumerate(
            ("Tool execution started", "Tool processing data", "Tool execution completed")
        ):
            if i:
                await asyncio.sleep(0.05)
            if LEVELS.index("info") >= LEVELS.index(log_level["value"]):
                await ctx.session.send_log_message("info", message, "conformance", ctx.request_id)
        return _tool_result(_text("Tool with logging executed successfully"))
    if name == "test_tool_with_progress":
        for i, progress in enumerate((0, 50, 100)):
            if i:
                await asyncio.sleep(0.05)
            await ctx.session.report_progress(progress, 100)  # a no-op when the request has no progressToken
        return _tool_result(_text("Tool with progress executed successfully"))
    if name == "test_error_handling":
        return _tool_result(_text("This tool intentionally returns an error for testing"), is_error=True)
    if name == "test_missing_capability":
        if "sampling" not in _capabilities(ctx):
            raise MCPError(
                code=-32021,
                message="Missing required client capability: sampling",
                data={"requiredCapabilities": {"sampling": {}}},
            )
        return _tool_result(_text("The client can sample."))
    if name in (
        "test_sampling",
        "test_elicitation",
        "test_elicitation_sep1034_defaults",
        "test_elicitation_sep1330_enums",
        "test_streaming_elicitation",
    ):
        return await _ask_client(ctx, params, name, args)
    if name.startswith("test_input_required_result_"):
        return _input_required_tool(ctx, params, name.removeprefix("test_input_required_result_"))
    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {name}")


ELICIT_DEFAULTS = _elicit(
    "Please review and update the form fields with defaults",
    {
        "name": {"type": "string", "description": "User name", "default": "John Doe"},
        "age": {"type": "integer", "description": "User age", "default": 30},
        "score": {"type": "number", "description": "User score", "default": 95.5},
        "status": {
            "type": "string",
            "description": "User status",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "description": "Verification status", "default": True},
    },
)
ELICIT_ENUMS = _elicit(
    "Please select options from the enum fields",
    {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
)


async def _ask_client(
    ctx: Any, params: types.CallToolRequestParams, name: str, args: dict[str, Any]
) -> types.CallToolResult | types.InputRequiredResult:
    """sampling/createMessage or elicitation/create: a request to a handshake client, else an input round."""
    if name == "test_sampling":
        request = _sample(str(args.get("prompt", "")), 100)
    elif name in ("test_elicitation", "test_streaming_elicitation"):
        request = _elicit(
            str(args.get("message", "")),
            {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            ["username", "email"],
        )
    else:
        request = ELICIT_DEFAULTS if name.endswith("defaults") else ELICIT_ENUMS
    if ctx.protocol_version == MODERN:
        answer = _responses(params).get("answer")
        if answer is None:
            return _needs_input({"answer": request})
    else:
        capability = "sampling" if request["method"] == "sampling/createMessage" else "elicitation"
        if capability not in _capabilities(ctx):
            return _tool_result(_text(f"The client does not support {capability}"), is_error=True)
        if capability == "sampling":
            typed: Any = types.CreateMessageRequest.model_validate(request)
            reply = await ctx.session.send_request(typed, types.CreateMessageResult)
        else:
            typed = types.ElicitRequest.model_validate(request)
            reply = await ctx.session.send_request(typed, types.ElicitResult)
        answer = reply.model_dump(by_alias=True, exclude_none=True)
    if name == "test_sampling":
        return _tool_result(_text(f"LLM response: {_sampled_text(answer)}"))
    if name in ("test_elicitation", "test_streaming_elicitation"):
        return _tool_result(
            _text(f"User response: action={answer.get('action')}, content={answer.get('content')}")
        )
    content = json.dumps(answer.get("content"))
    return _tool_result(_text(f"Elicitation completed: action={answer.get('action')}, content={content}"))


def _input_required_tool(
    ctx: Any, params: types.CallToolRequestParams, kind: str
) -> types.CallToolResult | types.InputRequiredResult:
    answers = _responses(params)
    state = _unseal(params.request_state)
    ask_name = _elicit("What is your name?", {"name": {"type": "string"}}, ["name"])
    if kind == "elicitation":
        name = _accepted(answers.get("user_name"), "name")
        if name is None:
            return _needs_input({"user_name": ask_name})
        return _tool_result(_text(f"Hello, {name}!"))
    if kind == "sampling":
        text = _sampled_text(answers.get("capital_question"))
        if text is None:
            return _needs_input({"capital_question": _sample("What is the capital of France?", 100)})
        return _tool_result(_text(f"The model answered: {text}"))
    if kind == "list_roots":
        roots = answers.get("client_roots")
        if not isinstance(roots, dict) or not isinstance(roots.get("roots"), list):
            return _needs_input({"client_roots": ROOTS})
        uris = ", ".join(str(r.get("uri")) for r in roots["roots"] if isinstance(r, dict))
        return _tool_result(_text(f"The client has {len(roots['roots'])} roots: {uris}"))
    if kind == "request_state":
        confirm = _elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])
        if state is None or state.get("step") != "confirm" or "confirm" not in answers:
            return _needs_input({"confirm": confirm}, {"step": "confirm"})
        return _tool_result(_text(f"state-ok: confirmed={_accepted(answers['confirm'], 'ok')}"))
    if kind == "multiple_inputs":
        wanted = {
            "user_name": ask_name,
            "greeting": _sample("Generate a greeting", 50),
            "client_roots": ROOTS,
        }
        missing = {k: v for k, v in wanted.items() if k not in answers}
        if state is None or missing:
            return _needs_input(missing or wanted, {"step": "all"})
        return _tool_result(
            _text(f"Got all inputs: name={_accepted(answers['user_name'], 'name')}, greeting and roots")
        )
    if kind == "multi_round":
        step1 = _elicit("Step 1: What is your name?", {"name": {"type": "string"}}, ["name"])
        step2 = _elicit("Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"])
        if state is None:
            return _needs_input({"step1": step1}, {"round": 1})
        if state.get("round") == 1:
            name = _accepted(answers.get("step1"), "name")
            if name is None:
                return _needs_input({"step1": step1}, {"round": 1})
            return _needs_input({"step2": step2}, {"round": 2, "name": name})
        color = _accepted(answers.get("step2"), "color")
        if color is None:
            return _needs_input({"step2": step2}, state)
        return _tool_result(_text(f"{state.get('name')} likes {color}"))
    if kind == "tampered_state":
        if state is None:
            return _needs_input({"user_name": ask_name}, {"issued": "tampered_state"})
        return _tool_result(_text(f"Hello, {_accepted(answers.get('user_name'), 'name')}!"))
    if kind == "capabilities":
        caps = _capabilities(ctx)
        requests: dict[str, Any] = {}
        if "elicitation" in caps:
            requests["user_name"] = ask_name
        if "sampling" in caps:
            requests["greeting"] = _sample("Generate a greeting", 50)
        if "roots" in caps:
            requests["client_roots"] = ROOTS
        if requests and not all(k in answers for k in requests):
            return _needs_input(requests)
        return _tool_result(_text(f"Done with {sorted(requests)} from the client"))
    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: test_input_required_result_{kind}")


async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
    return types.ListResourcesResult.model_validate(
        {"resources": [{"uri": uri, **r["meta"]} for uri, r in RESOURCES.items()]}
    )


async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
    template = {
        "uriTemplate": TEMPLATE,
        "name": "template",
        "description": "A resource per id",
        "mimeType": "application/json",
    }
    return types.ListResourceTemplatesResult.model_validate({"resourceTemplates": [template]})


async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    uri = str(params.uri)
    if uri in RESOURCES:
        return types.ReadResourceResult.model_validate(
            {"contents": [{"uri": uri, **RESOURCES[uri]["content"]}]}
        )
    prefix, suffix = TEMPLATE.split("{id}")
    if uri.startswith(prefix) and uri.endswith(suffix) and len(uri) > len(prefix) + len(suffix):
        item_id = uri[len(prefix) : -len(suffix)]
        text = json.dumps({"id": item_id, "templateTest": True, "data": f"Data for ID: {item_id}"})
        return types.ReadResourceResult.model_validate(
            {"contents": [{"uri": uri, "mimeType": "application/json", "text": text}]}
        )
    raise MCPError(code=types.INVALID_PARAMS, message=f"Resource not found: {uri}", data={"uri": uri})


subscriptions: set[str] = set()


async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
    subscriptions.add(str(params.uri))
    return types.EmptyResult()


async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    subscriptions.discard(str(params.uri))
    return types.EmptyResult()


async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult.model_validate({"prompts": PROMPTS})


def _prompt(*messages: dict[str, Any]) -> types.GetPromptResult:
    return types.GetPromptResult.model_validate(
        {"messages": [{"role": "user", "content": m} for m in messages]}
    )


async def get_prompt(
    ctx: Any, params: types.GetPromptRequestParams
) -> types.GetPromptResult | types.InputRequiredResult:
    args = params.arguments or {}
    if params.name == "test_simple_prompt":
        return _prompt(_text("This is a simple prompt for testing."))
    if params.name == "test_prompt_with_arguments":
        return _prompt(_text(f"Prompt with arguments: arg1='{args.get('arg1')}', arg2='{args.get('arg2')}'"))
    if params.name == "test_prompt_with_embedded_resource":
        resource = {
            "uri": args.get("resourceUri", "test://example-resource"),
            "mimeType": "text/plain",
            "text": "Embedded resource content for testing.",
        }
        return _prompt(
            {"type": "resource", "resource": resource}, _text("Please process the embedded resource above.")
        )
    if params.name == "test_prompt_with_image":
        return _prompt(
            {"type": "image", "data": PNG, "mimeType": "image/png"}, _text("Please analyze the image above.")
        )
    if params.name == "test_input_required_result_prompt":
        context = _accepted(_responses(params).get("user_context"), "context")
        if context is None:
            ask = _elicit("What context should the prompt use?", {"context": {"type": "string"}}, ["context"])
            return _needs_input({"user_context": ask})
        return _prompt(_text(f"Answer with this context in mind: {context}"))
    raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown prompt: {params.name}")


async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
    value = params.argument.value
    candidates = ["paris", "park", "party"] if params.argument.name == "arg1" else []
    values = [c for c in candidates if c.startswith(value)]
    return types.CompleteResult.model_validate(
        {"completion": {"values": values, "total": len(values), "hasMore": False}}
    )


async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
    log_level["value"] = params.level
    return types.EmptyResult()


server = Server(
    "mcpfleet-conformance",
    version="1.0.0",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
    on_list_resources=list_resources,
    on_list_resource_templates=list_templates,
    on_read_resource=read_resource,
    on_subscribe_resource=subscribe,
    on_unsubscribe_resource=unsubscribe,
    on_list_prompts=list_prompts,
    on_get_prompt=get_prompt,
    on_completion=complete,
    on_set_logging_level=set_level,
)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    asyncio.run(main())
