"""An "everything" MCP server written the way an SDK user writes one: the official Python SDK's
``MCPServer`` (mcp 2.3), its decorators and ``Context`` methods, default transport settings.

An upstream that is not ours for tests/system/test_conformance_upstreams.py. Every tool,
resource and prompt is one a server scenario of the conformance suite asks for by name.

    python sdk_everything.py --transport http --port 8123 [--stateless]   # http://127.0.0.1:8123/mcp
    python sdk_everything.py --transport stdio

Both protocol generations are the SDK's: a handshake client (2025-11-25 and earlier) gets real
``sampling/createMessage`` / ``elicitation/create`` requests and notifications; a 2026-07-28
client gets ``InputRequiredResult`` rounds with SDK-sealed ``requestState``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import warnings
from typing import Annotated, Any, Literal, get_args

import mcp_types as types
from mcp.server.caching import CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, Elicit, Image, MCPServer, Resolve, Sample, UserMessage
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.resources import BinaryResource, TextResource
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.types import Audio
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import BaseModel, Field

# Logging, sampling and roots are deprecated at 2026-07-28; this server serves older clients too.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

# A 1x1 red PNG and 1 ms of 8-bit silence as WAV (made with zlib/struct and the wave module).
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
PNG = base64.b64decode(PNG_B64)
WAV = base64.b64decode("UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==")
IMAGE = Image(data=PNG, format="png")
LEVELS: tuple[types.LoggingLevel, ...] = get_args(types.LoggingLevel)  # least severe first
STRING, JSON = {"type": "string"}, "application/json"
ADDRESS = {"$anchor": "addressDef", "type": "object", "properties": {"street": STRING, "city": STRING}}
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": ADDRESS},
    "properties": {
        "name": STRING,
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": STRING,
        "email": STRING,
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def contact(name: str = "", contactMethod: str = "", phone: str = "", email: str = "") -> str:
    return f"Received: name={name!r}, contactMethod={contactMethod!r}, phone={phone!r}, email={email!r}"


# The SDK derives a tool's schema from its signature; this one publishes the suite's hand-written
# JSON Schema 2020-12 document instead (arguments are still validated against the signature).
SCHEMA_TOOL = Tool.from_function(
    contact, name="json_schema_2020_12_tool", description="Tool with JSON Schema 2020-12 features"
)

server: MCPServer = MCPServer(
    "sdk-everything",
    version="1.0.0",
    instructions="The conformance suite's everything server, on the official Python SDK.",
    tools=[SCHEMA_TOOL.model_copy(update={"parameters": JSON_SCHEMA_2020_12})],
    resources=[
        TextResource(
            uri="test://static-text",
            name="static-text",
            description="A static text resource",
            text="This is the content of the static text resource.",
        ),
        BinaryResource(
            uri="test://static-binary",
            name="static-binary",
            description="A PNG",
            mime_type="image/png",
            data=PNG,
        ),
        TextResource(
            uri="test://watched-resource",
            name="watched-resource",
            description="A resource to subscribe to",
            text="Watched resource content.",
        ),
    ],
    # SEP-2549 freshness hints on every cacheable result (2026-07-28)
    cache_hints=dict.fromkeys(
        ["tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"],
        CacheHint(ttl_ms=60_000, scope="public"),
    ),
)


# ------------------------------------------------------------------------- content tools
def _embedded(uri: str, mime_type: str, text: str) -> types.EmbeddedResource:
    contents = types.TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    return types.EmbeddedResource(type="resource", resource=contents)


EMBEDDED = _embedded("test://embedded-resource", "text/plain", "This is an embedded resource content.")
MIXED_JSON = json.dumps({"test": "data", "value": 123})
MIXED = _embedded("test://mixed-content-resource", "application/json", MIXED_JSON)
for name, description, returns in [
    ("test_simple_text", "Returns one text block", lambda: "This is a simple text response for testing."),
    ("test_image_content", "Returns a 1x1 PNG", lambda: IMAGE),
    ("test_audio_content", "Returns a short WAV", lambda: Audio(data=WAV, format="wav")),
    ("test_embedded_resource", "Returns an embedded resource", lambda: EMBEDDED),
    ("test_multiple_content_types", "Three kinds", lambda: ["Multiple content types test:", IMAGE, MIXED]),
]:
    server.add_tool(returns, name=name, description=description)


@server.tool(description="Always fails")
def test_error_handling() -> str:
    raise ToolError("This tool intentionally returns an error for testing")


@server.tool(description="Echoes a region that also travels as the Mcp-Param-Region header (SEP-2243)")
def test_custom_header(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
    return f"Region: {region}"


# ----------------- logging and progress (the log level is per session; "": stdio, stateless HTTP)
_log_levels: dict[str, types.LoggingLevel] = {}
Request = ServerRequestContext[Any, Any]  # what low-level handlers get


def _connection(request: Any) -> str:
    return str((getattr(request, "headers", None) or {}).get("mcp-session-id", ""))


async def _set_level(ctx: Request, params: types.SetLevelRequestParams) -> types.EmptyResult:
    _log_levels[_connection(ctx.request)] = params.level
    return types.EmptyResult()


LOG_MESSAGES = ["Tool execution started", "Tool processing data", "Tool execution completed"]


async def log_three(ctx: Context) -> str:
    threshold = _log_levels.get(_connection(ctx.request_context.request), "debug")
    for i, message in enumerate(LOG_MESSAGES):
        await asyncio.sleep(0.05 if i else 0)
        if LEVELS.index("info") >= LEVELS.index(threshold):  # 2026-07-28: the SDK sends only if opted in
            await ctx.info(message, logger_name="sdk-everything")
    return "Tool with logging executed successfully"


server.add_tool(log_three, name="test_tool_with_logging", description="Sends three info log messages")
server.add_tool(
    log_three, name="test_logging_tool", description="Logs three messages (2026-07-28: on request)"
)


@server.tool(description="Reports progress 0, 50 and 100 of 100")
async def test_tool_with_progress(ctx: Context) -> str:
    for progress in (0, 50, 100):
        await asyncio.sleep(0.05 if progress else 0)
        await ctx.report_progress(progress, 100, f"step {progress} of 100")
    return "Tool with progress executed successfully"


@server.tool(description="Closes its SSE stream mid-call (SEP-1699; resumes only with an event store)")
async def test_reconnection(ctx: Context) -> str:
    await ctx.info("Before disconnect")
    await ctx.close_sse_stream()
    await asyncio.sleep(0.2)
    await ctx.info("After reconnect")
    return "Reconnection test completed"


# -------------------------- asking the client (a request mid-call, or input_required rounds)
def ask_llm(prompt: str) -> Sample:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))
    return Sample([message], max_tokens=100)


@server.tool(description="Asks the client's LLM")
async def test_sampling(prompt: str, answer: Annotated[types.CreateMessageResult, Resolve(ask_llm)]) -> str:
    content = answer.content
    return f"LLM response: {content.text if isinstance(content, types.TextContent) else content.type}"


@server.tool(name="test_missing_capability", description="Needs the sampling capability (-32021 without it)")
async def needs_sampling(
    answer: Annotated[types.CreateMessageResult, Resolve(ask_llm)], prompt: str = "Say anything"
) -> str:
    return "The client can sample."


class UserInfo(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


def ask_user(message: str) -> Elicit[UserInfo]:
    return Elicit(message, UserInfo)


@server.tool(description="Asks the user for a name and an email")
async def test_elicitation(message: str, info: Annotated[UserInfo, Resolve(ask_user)]) -> str:
    return f"User response: action=accept, content={info.model_dump_json()}"


class Defaults(BaseModel):
    name: str = Field("John Doe", description="User name")
    age: int = Field(30, description="User age")
    score: float = Field(95.5, description="User score")
    status: Literal["active", "inactive", "pending"] = Field("active", description="User status")
    verified: bool = Field(True, description="Verification status")


def ask_defaults() -> Elicit[Defaults]:
    return Elicit("Please review and update the form fields with defaults", Defaults)


@server.tool(description="Elicitation whose fields all have defaults (SEP-1034)")
async def test_elicitation_sep1034_defaults(form: Annotated[Defaults, Resolve(ask_defaults)]) -> str:
    return f"Elicitation completed: action=accept, content={form.model_dump_json()}"


def _titled(noun: str) -> list[dict[str, str]]:
    ordinals = ["First", "Second", "Third"]
    return [{"const": f"value{i}", "title": f"{n} {noun}"} for i, n in enumerate(ordinals, 1)]


class Enums(BaseModel):
    untitledSingle: Literal["option1", "option2", "option3"]
    titledSingle: str = Field(json_schema_extra={"oneOf": _titled("Option")})
    legacyEnum: Literal["opt1", "opt2", "opt3"] = Field(
        json_schema_extra={"enumNames": ["Option One", "Option Two", "Option Three"]}
    )
    untitledMulti: list[Literal["option1", "option2", "option3"]]
    titledMulti: list[str] = Field(json_schema_extra={"items": {"anyOf": _titled("Choice")}})


def ask_enums() -> Elicit[Enums]:
    return Elicit("Please select options from the enum fields", Enums)


@server.tool(description="Elicitation with every enum shape (SEP-1330)")
async def test_elicitation_sep1330_enums(form: Annotated[Enums, Resolve(ask_enums)]) -> str:
    return f"Elicitation completed: action=accept, content={form.model_dump_json()}"


class Name(BaseModel):
    name: str


def ask_name() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


@server.tool(description="Asks the user while the call is open")
async def test_streaming_elicitation(who: Annotated[Name, Resolve(ask_name)]) -> str:
    return f"Hello, {who.name}!"


# ---------------- 2026-07-28 input_required rounds by hand (the suite names the request keys)
def _elicit(message: str, field: str, kind: str = "string") -> types.ElicitRequest:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=schema))


def _sample(text: str, max_tokens: int) -> types.CreateMessageRequest:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=text))
    params = types.CreateMessageRequestParams(messages=[message], max_tokens=max_tokens)
    return types.CreateMessageRequest(params=params)


def _needs(requests: dict[str, Any], state: dict[str, Any] | None = None) -> types.InputRequiredResult:
    return types.InputRequiredResult(
        input_requests=requests, request_state=json.dumps(state) if state else None
    )


def _answers(ctx: Context[Any, Any]) -> dict[str, Any]:
    return {k: v.model_dump(by_alias=True, exclude_none=True) for k, v in (ctx.input_responses or {}).items()}


def _state(ctx: Context[Any, Any]) -> dict[str, Any]:
    """The state this server issued last round (the SDK has checked its seal before the tool runs)."""
    return dict(json.loads(ctx.request_state)) if ctx.request_state else {}


def _content(answer: Any, field: str) -> Any:
    """A field of an answer's content: an accepted elicitation's value, a sampled message's text."""
    accepted = isinstance(answer, dict) and answer.get("action", "accept") == "accept"
    content = answer.get("content") if accepted else None
    return content.get(field) if isinstance(content, dict) else None


Rounds = str | types.InputRequiredResult
ROOTS = types.ListRootsRequest()
ASK_NAME = _elicit("What is your name?", "name")


@server.tool(description="input_required: one elicitation", structured_output=False)
async def test_input_required_result_elicitation(ctx: Context) -> Rounds:
    name = _content(_answers(ctx).get("user_name"), "name")
    return f"Hello, {name}!" if name is not None else _needs({"user_name": ASK_NAME})


@server.tool(description="input_required: one sampling request", structured_output=False)
async def test_input_required_result_sampling(ctx: Context) -> Rounds:
    text = _content(_answers(ctx).get("capital_question"), "text")
    if text is None:
        return _needs({"capital_question": _sample("What is the capital of France?", 100)})
    return f"The model answered: {text}"


@server.tool(description="input_required: the client's roots", structured_output=False)
async def test_input_required_result_list_roots(ctx: Context) -> Rounds:
    roots = _answers(ctx).get("client_roots")
    if not isinstance(roots, dict) or not isinstance(roots.get("roots"), list):
        return _needs({"client_roots": ROOTS})
    return "The client's roots: " + ", ".join(str(r.get("uri")) for r in roots["roots"])


@server.tool(description="input_required: requestState round trip", structured_output=False)
async def test_input_required_result_request_state(ctx: Context) -> Rounds:
    answers = _answers(ctx)
    if _state(ctx).get("step") != "confirm" or "confirm" not in answers:
        return _needs({"confirm": _elicit("Please confirm", "ok", "boolean")}, {"step": "confirm"})
    return f"state-ok: confirmed={_content(answers['confirm'], 'ok')}"


@server.tool(description="input_required: elicitation, sampling and roots at once", structured_output=False)
async def test_input_required_result_multiple_inputs(ctx: Context) -> Rounds:
    answers = _answers(ctx)
    wanted = {"user_name": ASK_NAME, "greeting": _sample("Generate a greeting", 50), "client_roots": ROOTS}
    missing = {k: v for k, v in wanted.items() if k not in answers}
    if missing or _state(ctx).get("step") != "all":
        return _needs(missing or wanted, {"step": "all"})
    return f"Got all inputs: name={_content(answers['user_name'], 'name')}, a greeting and the roots"


@server.tool(description="input_required: two rounds with evolving state", structured_output=False)
async def test_input_required_result_multi_round(ctx: Context) -> Rounds:
    answers, state = _answers(ctx), _state(ctx)
    step1 = _elicit("Step 1: What is your name?", "name")
    step2 = _elicit("Step 2: What is your favorite color?", "color")
    if state.get("round") != 2:
        name = _content(answers.get("step1"), "name") if state.get("round") == 1 else None
        return (
            _needs({"step1": step1}, {"round": 1})
            if name is None
            else _needs({"step2": step2}, {"round": 2, "name": name})
        )
    color = _content(answers.get("step2"), "color")
    return f"{state.get('name')} likes {color}" if color is not None else _needs({"step2": step2}, state)


@server.tool(description="input_required: the SDK rejects an altered requestState", structured_output=False)
async def test_input_required_result_tampered_state(ctx: Context) -> Rounds:
    if not _state(ctx):
        return _needs({"user_name": ASK_NAME}, {"issued": True})
    return f"Hello, {_content(_answers(ctx).get('user_name'), 'name')}!"


@server.tool(description="input_required: asks only what the client can answer", structured_output=False)
async def test_input_required_result_capabilities(ctx: Context) -> Rounds:
    caps = ctx.client_capabilities or types.ClientCapabilities()
    offered = {
        "user_name": (caps.elicitation, ASK_NAME),
        "greeting": (caps.sampling, _sample("Generate a greeting", 50)),
        "client_roots": (caps.roots, ROOTS),
    }
    wanted = {key: request for key, (capability, request) in offered.items() if capability is not None}
    if any(key not in _answers(ctx) for key in wanted):
        return _needs(wanted)
    return f"Done with {sorted(wanted)} from the client"


# ----------------------------------------------- list changes (2026-07-28 subscriptions/listen)
def _fleeting() -> str:
    return "I come and go."


@server.tool(description="Adds and removes a tool, announcing each change")
async def test_trigger_tool_change(ctx: Context) -> str:
    server.add_tool(_fleeting, name="test_fleeting_tool", description="Exists only briefly")
    await ctx.notify_tools_changed()
    server.remove_tool("test_fleeting_tool")
    await ctx.notify_tools_changed()
    return "The tool list changed."


@server.tool(description="Adds and removes a prompt, announcing each change")
async def test_trigger_prompt_change(ctx: Context) -> str:
    server.add_prompt(
        Prompt.from_function(_fleeting, name="test_fleeting_prompt", description="Exists briefly")
    )
    await ctx.notify_prompts_changed()
    server.remove_prompt("test_fleeting_prompt")
    await ctx.notify_prompts_changed()
    return "The prompt list changed."


# --------------------------------------------------------------- resources and subscriptions
@server.resource("test://template/{id}/data", name="template", description="Data by id", mime_type=JSON)
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


_subscriptions: set[str] = set()  # handshake-era resources/subscribe (2026-07-28: subscriptions/listen)


async def _subscription(ctx: Request, params: types.SubscribeRequestParams) -> types.EmptyResult:
    (_subscriptions.add if ctx.method == "resources/subscribe" else _subscriptions.discard)(str(params.uri))
    return types.EmptyResult()


# ---------------------------------------------------------------------- prompts, completion
@server.prompt(description="A prompt without arguments")
def test_simple_prompt() -> str:
    return "This is a simple prompt for testing."


@server.prompt(description="A prompt with two arguments")
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> str:
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@server.prompt(description="A prompt embedding a resource")
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],
) -> list[UserMessage]:
    resource = _embedded(resourceUri, "text/plain", "Embedded resource content for testing.")
    return [UserMessage(resource), UserMessage("Please process the embedded resource above.")]


@server.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[UserMessage]:
    return [UserMessage(Image(data=PNG, format="png")), UserMessage("Please analyze the image above.")]


@server.prompt(description="A prompt that needs client input first (2026-07-28)")
def test_input_required_result_prompt(ctx: Context) -> str | types.InputRequiredResult:
    context = _content(_answers(ctx).get("user_context"), "context")
    if context is None:
        return _needs({"user_context": _elicit("What context should the prompt use?", "context")})
    return f"Answer with this context in mind: {context}"


@server.completion()
async def complete(ref: Any, argument: types.CompletionArgument, context: Any) -> types.Completion:
    candidates = ["paris", "park", "party"] if argument.name == "arg1" else []
    values = [v for v in candidates if v.startswith(argument.value)]
    return types.Completion(values=values, total=len(values), has_more=False)


# No high-level API for these handshake-era methods; the low-level server takes them.
lowlevel = server._lowlevel_server
lowlevel.add_request_handler("logging/setLevel", types.SetLevelRequestParams, _set_level)
lowlevel.add_request_handler("resources/subscribe", types.SubscribeRequestParams, _subscription)
lowlevel.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, _subscription)


def main() -> None:
    parser = argparse.ArgumentParser(description="An everything MCP server on the official Python SDK")
    parser.add_argument("--transport", choices=["http", "stdio"], default="stdio")
    parser.add_argument("--port", type=int, default=8000, help="HTTP: serve http://127.0.0.1:PORT/mcp")
    parser.add_argument(
        "--stateless", action="store_true", help="HTTP: stateless streamable HTTP (no sessions)"
    )
    args = parser.parse_args()
    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.port, stateless_http=args.stateless)


if __name__ == "__main__":
    main()
