"""Server->client traffic through the gateway, per call: sampling, elicitation, roots, progress
and log messages go to the client whose call caused them, and resource updates to the clients
that subscribed.

One gateway for the module, in front of real upstreams of both protocol generations:

``sdk-http`` / ``sdk-stdio``
    tests/servers/sdk_everything.py (official Python SDK) over streamable HTTP (a ``remote``
    server) and over stdio (a command). Both speak 2026-07-28, so the gateway's connection is
    stateless and their questions come as ``input_required`` rounds. (Over HTTP the gateway
    opens a second, session-protocol connection for session clients, so there a legacy client
    meets a session upstream; over stdio a legacy client's questions are bridged from rounds.)
``sdk-session``
    the same HTTP server, with the gateway held to the session protocol (``protocol="session"``):
    questions come as real requests on the call's SSE stream.
``everything-stdio`` / ``everything-http``
    npm ``@modelcontextprotocol/server-everything``, which speaks only the session protocol, on
    stdio and on streamable HTTP (``PORT`` = a free port, kept on loopback by a preload).

Clients are the official SDK's ``mcp.Client``, ``mode="legacy"`` (initialize handshake, a session)
and ``mode="2026-07-28"`` (stateless), so every pair of generations is bridged somewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
import pytest
import pytest_asyncio
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError

from helpers import (
    SERVERS,
    fleet,
    npm_server,
    own_server,
    serve_everything_http,
    serve_gateway,
    serve_http,
    until,
)
from mcpfleet.config import GatewayConfig, RemotePackage, ServerSpec
from mcpfleet.manager import MCPManager

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]

MODES = ("legacy", "2026-07-28")
CALL_TIMEOUT = 20.0  # seconds for one call through the gateway (they take well under one)
WATCHED = "test://watched-resource"  # the resource the conformance suite subscribes to


# ----------------------------------------------------------------------------- the upstreams
@dataclass(frozen=True)
class Upstream:
    """One fleet server and how to make it ask the client things."""

    server: str
    protocol: str  # what the gateway's connection to it speaks
    sampling: Callable[[str], tuple[str, dict[str, Any]]]  # prompt -> (tool, arguments)
    elicitation: tuple[str, dict[str, Any]]
    progress: tuple[str, dict[str, Any], list[float]]  # tool, arguments, the progress it reports
    npm: bool = False


def _sdk(server: str, protocol: str) -> Upstream:
    return Upstream(
        server,
        protocol,
        sampling=lambda prompt: ("test_sampling", {"prompt": prompt}),
        elicitation=("test_elicitation", {"message": "Who are you?"}),
        progress=("test_tool_with_progress", {}, [0.0, 50.0, 100.0]),
    )


def _everything(server: str) -> Upstream:
    return Upstream(
        server,
        "2025-11-25",
        sampling=lambda prompt: ("trigger-sampling-request", {"prompt": prompt, "maxTokens": 50}),
        elicitation=("trigger-elicitation-request", {}),
        progress=("trigger-long-running-operation", {"duration": 0.3, "steps": 3}, [1.0, 2.0, 3.0]),
        npm=True,
    )


UPSTREAMS = {
    "sdk-http": _sdk("sdk_http", "2026-07-28"),
    "sdk-stdio": _sdk("sdk_stdio", "2026-07-28"),
    "sdk-session": _sdk("sdk_session", "2025-11-25"),
    "everything-stdio": _everything("everything_stdio"),
    "everything-http": _everything("everything_http"),
}
HTTP_UPSTREAMS = ("sdk-http", "sdk-session", "everything-http")


def _params(*names: str, endpoints: tuple[str, ...] | None = None) -> list[Any]:
    """(upstream, mode) for each upstream named and each client generation; with ``endpoints``,
    (upstream, mode, endpoint) for each endpoint too ("server": /servers/NAME/mcp, "fleet": /mcp)."""
    return [
        pytest.param(
            name,
            mode,
            *([endpoint] if endpoints else []),
            id="-".join([name, mode, *([endpoint] if endpoints else [])]),
            marks=[pytest.mark.npm] if UPSTREAMS[name].npm else [],
        )
        for name in names
        for mode in MODES
        for endpoint in endpoints or ("server",)
    ]


# A subscription server: sdk_everything (its resource test://watched-resource and its
# resources/subscribe handlers) plus one tool that says the resource changed, the way the SDK
# does it for each generation (handshake sessions: only once subscribed; 2026-07-28: to the
# subscriptions/listen streams whose resourceSubscriptions name it).
WATCH_SERVER = f"""
import sys
sys.path.insert(0, {str(SERVERS)!r})
import sdk_everything as everything
from mcp.server.mcpserver import Context


@everything.server.tool(description="Tells the subscribers of a resource that it changed")
async def touch_resource(uri: str, ctx: Context) -> str:
    await ctx.notify_resource_updated(uri)  # to the listen streams that name it (2026-07-28)
    request = ctx.request_context
    if request.protocol_version != "2026-07-28" and uri in everything._subscriptions:
        await request.session.send_resource_updated(uri)  # this session subscribed (handshake era)
    return "touched " + uri


everything.main()
"""
WATCHERS = {  # (transport, upstream protocol) -> fleet server
    ("http", "auto"): "watch_http",
    ("stdio", "auto"): "watch_stdio",
    ("http", "session"): "watch_http_session",
    ("stdio", "session"): "watch_stdio_session",
}


@dataclass
class Gateway:
    url: str
    manager: MCPManager

    def endpoint(self, server: str, endpoint: str = "server") -> str:
        return f"{self.url}/servers/{server}/mcp" if endpoint == "server" else f"{self.url}/mcp"

    def protocol(self, server: str) -> str | None:
        (row,) = [r for r in self.manager.status() if r["server"] == server]
        return row["instances"][0]["protocol"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    home = tmp_path_factory.mktemp("relay")
    watch_script = home / "watch_server.py"
    watch_script.write_text(WATCH_SERVER)
    async with contextlib.AsyncExitStack() as stack:
        sdk = await stack.enter_async_context(
            serve_http("sdk_everything.py", "--transport", "http", "--port", "{port}")
        )
        watcher = await stack.enter_async_context(
            serve_http(str(watch_script), "--transport", "http", "--port", "{port}")
        )
        everything_url = await stack.enter_async_context(serve_everything_http())
        config = fleet(
            home / "home",
            sdk_http=ServerSpec(package=RemotePackage(url=sdk.url)),
            sdk_stdio=own_server("sdk_everything.py", "--transport", "stdio"),
            sdk_session=ServerSpec(package=RemotePackage(url=sdk.url), protocol="session"),
            everything_stdio=npm_server("server-everything", "stdio"),
            everything_http=ServerSpec(package=RemotePackage(url=everything_url)),
            watch_http=ServerSpec(package=RemotePackage(url=watcher.url)),
            watch_stdio=own_server(str(watch_script), "--transport", "stdio"),
            watch_http_session=ServerSpec(package=RemotePackage(url=watcher.url), protocol="session"),
            watch_stdio_session=own_server(str(watch_script), "--transport", "stdio", protocol="session"),
        )
        config.gateway = GatewayConfig(port=0)
        manager = await stack.enter_async_context(MCPManager(config))
        assert (await manager.batch_install()).ok
        results = await manager.start_all()
        assert set(results.values()) == {"ready"}, results
        url = await stack.enter_async_context(serve_gateway(manager))
        yield Gateway(url, manager)


# ----------------------------------------------------------------------------- the clients
def _text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


@dataclass
class Person:
    """A client's user and LLM: answers what reaches its callbacks, and remembers it."""

    name: str
    sampled: list[str] = field(default_factory=list)  # the prompts its LLM was asked
    elicited: list[str] = field(default_factory=list)  # the messages its user was shown
    rooted: int = 0
    logs: list[Any] = field(default_factory=list)
    notifications: list[Any] = field(default_factory=list)
    hold: asyncio.Barrier | None = None  # answer only once every holder has been asked

    @property
    def answer(self) -> str:
        return f"the answer of {self.name}"

    async def sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        content = params.messages[0].content
        self.sampled.append(content.text if isinstance(content, types.TextContent) else repr(content))
        if self.hold is not None:
            await asyncio.wait_for(self.hold.wait(), 10)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=self.answer), model="test-model"
        )

    async def elicit(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        self.elicited.append(params.message)
        schema = getattr(params, "requested_schema", None) or {}
        offered = {"name": self.name, "username": self.name, "email": f"{self.name}@example.com"}
        content = {k: v for k, v in offered.items() if k in (schema.get("properties") or {})}
        return types.ElicitResult(action="accept", content=content)

    async def roots(self, context: ClientRequestContext) -> types.ListRootsResult:
        self.rooted += 1
        return types.ListRootsResult(roots=[types.Root(uri=f"file:///home/{self.name}", name=self.name)])

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.data)

    async def notice(self, message: Any) -> None:
        self.notifications.append(message)

    def client(self, url: str, mode: str, *, sampling: bool = True, **options: Any) -> Client:
        return Client(
            url,
            mode=mode,
            sampling_callback=self.sample if sampling else None,
            elicitation_callback=self.elicit,
            list_roots_callback=self.roots,
            logging_callback=self.log,
            message_handler=self.notice,
            **options,
        )

    def updates(self) -> list[str]:
        return [
            str(n.params.uri) for n in self.notifications if isinstance(n, types.ResourceUpdatedNotification)
        ]


async def _call(client: Client, tool: str, arguments: dict[str, Any], **options: Any) -> types.CallToolResult:
    return await asyncio.wait_for(client.call_tool(tool, arguments, **options), CALL_TIMEOUT)


def _tool(upstream: Upstream, tool: str, endpoint: str) -> str:
    return tool if endpoint == "server" else f"{upstream.server}__{tool}"


# ----------------------------------------------------------------------------- 1. both generations
async def test_upstreams_speak_the_generations_the_module_says(gateway: Gateway) -> None:
    """The matrix below bridges what it claims: the gateway's connection to each upstream."""
    for upstream in UPSTREAMS.values():
        assert gateway.protocol(upstream.server) == upstream.protocol, upstream.server


@pytest.mark.parametrize(("name", "mode", "endpoint"), _params(*UPSTREAMS, endpoints=("server", "fleet")))
async def test_sampling_reaches_the_callers_llm(
    gateway: Gateway, name: str, mode: str, endpoint: str
) -> None:
    upstream = UPSTREAMS[name]
    ann = Person("ann")
    tool, arguments = upstream.sampling(f"a question from ann via {name}")
    async with ann.client(gateway.endpoint(upstream.server, endpoint), mode) as client:
        result = await _call(client, _tool(upstream, tool, endpoint), arguments)
    assert not result.is_error, _text(result)
    assert len(ann.sampled) == 1 and f"a question from ann via {name}" in ann.sampled[0]
    assert ann.answer in _text(result)


@pytest.mark.parametrize(("name", "mode", "endpoint"), _params(*UPSTREAMS, endpoints=("server", "fleet")))
async def test_elicitation_reaches_the_callers_user(
    gateway: Gateway, name: str, mode: str, endpoint: str
) -> None:
    upstream = UPSTREAMS[name]
    bob = Person("bob")
    tool, arguments = upstream.elicitation
    async with bob.client(gateway.endpoint(upstream.server, endpoint), mode) as client:
        result = await _call(client, _tool(upstream, tool, endpoint), arguments)
    assert not result.is_error, _text(result)
    assert len(bob.elicited) == 1
    assert "bob@example.com" in _text(result), _text(result)  # what bob's user answered


@pytest.mark.parametrize(("name", "mode", "endpoint"), _params(*UPSTREAMS, endpoints=("server", "fleet")))
async def test_progress_comes_with_the_callers_own_token(
    gateway: Gateway, name: str, mode: str, endpoint: str
) -> None:
    """The SDK client's progress callback only fires for a token of a request it has in flight
    (its own request id); the raw notifications show one token for the whole call."""
    upstream = UPSTREAMS[name]
    cat = Person("cat")
    tool, arguments, expected = upstream.progress
    reported: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, total))

    async with cat.client(gateway.endpoint(upstream.server, endpoint), mode) as client:
        result = await _call(
            client, _tool(upstream, tool, endpoint), arguments, progress_callback=on_progress
        )
        await until(lambda: len(reported) >= len(expected), within=5)
    assert not result.is_error, _text(result)
    assert sorted(p for p, _ in reported) == expected
    tokens = {n.params.progress_token for n in cat.notifications if isinstance(n, types.ProgressNotification)}
    assert len(tokens) == 1, tokens
    assert not str(tokens.pop()).startswith("mcpfleet"), "the gateway's own token leaked to the client"


@pytest.mark.parametrize(("name", "mode"), _params("sdk-http", "sdk-stdio", "sdk-session"))
async def test_log_messages_reach_the_caller(gateway: Gateway, name: str, mode: str) -> None:
    upstream = UPSTREAMS[name]
    dan = Person("dan")
    # A 2026-07-28 client opts in to log messages per request (a legacy one gets "info" and up).
    async with dan.client(gateway.endpoint(upstream.server), mode, log_level="info") as client:
        result = await _call(client, "test_tool_with_logging", {})
        await until(lambda: len(dan.logs) >= 3, within=5)
    assert not result.is_error, _text(result)
    assert dan.logs == ["Tool execution started", "Tool processing data", "Tool execution completed"]


@pytest.mark.parametrize(
    ("name", "mode"), [("sdk-stdio", "legacy"), ("sdk-stdio", "2026-07-28"), ("sdk-http", "2026-07-28")]
)
async def test_roots_reach_the_caller(gateway: Gateway, name: str, mode: str) -> None:
    """A 2026-07-28 upstream's roots/list round: a legacy client is asked it as a request, a
    2026-07-28 client gets the round itself; either way the upstream sees the caller's roots.
    (The tool answers only in rounds, so not to a legacy client over HTTP, which the gateway
    gives the server's session protocol.)"""
    upstream = UPSTREAMS[name]
    eve = Person("eve")
    async with eve.client(gateway.endpoint(upstream.server), mode) as client:
        result = await _call(client, "test_input_required_result_list_roots", {})
    assert not result.is_error, _text(result)
    assert eve.rooted == 1
    assert "file:///home/eve" in _text(result)


# ----------------------------------------------------------------------------- 2. no sampling capability
NOT_DECLARED = re.compile(r"did not declare the sampling capability", re.IGNORECASE)


@pytest.mark.parametrize(("name", "mode"), _params(*UPSTREAMS))
async def test_a_client_without_sampling_is_told_so_and_the_upstream_moves_on(
    gateway: Gateway, name: str, mode: str
) -> None:
    upstream = UPSTREAMS[name]
    fay, gus = Person("fay"), Person("gus")
    tool, arguments = upstream.sampling("a question nobody can answer")
    url = gateway.endpoint(upstream.server)
    async with fay.client(url, mode, sampling=False) as client:
        try:
            result = await _call(client, tool, arguments)
        except MCPError as exc:
            why = exc.error.message
        else:
            assert result.is_error, _text(result)
            why = _text(result)
        assert NOT_DECLARED.search(why), why
        assert fay.sampled == []
        # The upstream is not left waiting for an answer: the same client's next call works ...
        tool_, arguments_, _ = upstream.progress
        assert not (await _call(client, tool_, arguments_)).is_error
    # ... and so does the sampling tool, for a client that can sample.
    tool, arguments = upstream.sampling("a question gus can answer")
    async with gus.client(url, mode) as client:
        result = await _call(client, tool, arguments)
    assert not result.is_error, _text(result)
    assert gus.answer in _text(result)


# ----------------------------------------------------------------------------- 3. isolation
@pytest.mark.parametrize(("name", "mode"), _params(*HTTP_UPSTREAMS, "sdk-stdio"))
async def test_concurrent_callers_each_get_their_own_sampling_request(
    gateway: Gateway, name: str, mode: str
) -> None:
    """Two sessions sample at once through one upstream connection. Each LLM holds its answer
    until both have been asked, so both requests are open upstream together."""
    upstream = UPSTREAMS[name]
    hold = asyncio.Barrier(2)
    people = [Person("hal", hold=hold), Person("ida", hold=hold)]
    url = gateway.endpoint(upstream.server)

    async def ask(person: Person, client: Client) -> types.CallToolResult:
        tool, arguments = upstream.sampling(f"the question of {person.name}")
        return await _call(client, tool, arguments)

    async with people[0].client(url, mode) as hal, people[1].client(url, mode) as ida:
        results = await asyncio.gather(ask(people[0], hal), ask(people[1], ida))
    for person, other, result in zip(people, people[::-1], results, strict=True):
        assert not result.is_error, _text(result)
        assert len(person.sampled) == 1 and f"the question of {person.name}" in person.sampled[0]
        assert person.answer in _text(result) and other.answer not in _text(result)


@pytest.mark.npm
@pytest.mark.parametrize("mode", MODES)
async def test_stdio_session_upstream_never_sends_one_callers_request_to_another(
    gateway: Gateway, mode: str
) -> None:
    """Over stdio a session-protocol server's request says nothing of the call it belongs to.
    With two calls in flight the gateway may refuse it (it cannot tell whose it is) but never
    puts it to the wrong client; each call ends, with its own answer or that refusal."""
    upstream = UPSTREAMS["everything-stdio"]
    url = gateway.endpoint(upstream.server)

    async def ask(person: Person, client: Client) -> types.CallToolResult | MCPError:
        tool, arguments = upstream.sampling(f"the question of {person.name}")
        try:
            return await _call(client, tool, arguments)
        except MCPError as exc:
            return exc

    for _ in range(3):
        people = [Person("jan"), Person("kim")]
        async with people[0].client(url, mode) as jan, people[1].client(url, mode) as kim:
            results = await asyncio.gather(ask(people[0], jan), ask(people[1], kim))
        for person, other, result in zip(people, people[::-1], results, strict=True):
            assert all(f"the question of {person.name}" in prompt for prompt in person.sampled), (
                person.sampled
            )
            assert len(person.sampled) <= 1
            text = result.error.message if isinstance(result, MCPError) else _text(result)
            assert other.answer not in text, text
            if isinstance(result, MCPError) or result.is_error:
                assert re.search(r"more than one client|cannot (relay|tell)", text), text
            else:
                assert person.answer in text and person.sampled, text


@pytest.mark.npm
@pytest.mark.parametrize("mode", MODES)
async def test_stdio_session_upstream_does_not_guess_the_caller_by_capability(
    gateway: Gateway, mode: str
) -> None:
    """bea, who cannot sample, calls the sampling tool while amy, who can, has a call in flight on
    the same stdio connection. The upstream's sampling request is bea's: it must not be put to
    amy's LLM just because amy is the only one of the two that could answer it."""
    upstream = UPSTREAMS["everything-stdio"]
    url = gateway.endpoint(upstream.server)
    amy, bea = Person("amy"), Person("bea")
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with amy.client(url, mode) as amy_client, bea.client(url, mode, sampling=False) as bea_client:
        busy = asyncio.create_task(
            _call(
                amy_client,
                "trigger-long-running-operation",
                {"duration": 2, "steps": 2},
                progress_callback=on_progress,
            )
        )
        await until(lambda: bool(progress), within=10)  # amy's call is in flight upstream
        tool, arguments = upstream.sampling("the secret question of bea")
        try:
            result = await _call(bea_client, tool, arguments)
            why, refused = _text(result), bool(result.is_error)
        except MCPError as exc:
            why, refused = exc.error.message, True
        finally:
            amy_done = await busy
    assert amy.sampled == [], f"bea's sampling request reached amy's LLM {amy.sampled}; bea got: {why}"
    assert refused and "amy" not in why, why
    assert NOT_DECLARED.search(why) or re.search(r"cannot (relay|tell)", why), why
    assert not amy_done.is_error, _text(amy_done)


# ----------------------------------------------------------------------------- 4. subscriptions
async def _touch_until(
    client: Client, condition: Callable[[], bool], waiting_for: str, within: float = 10.0
) -> None:
    """Touch the watched resource until ``condition`` holds: an upstream listen stream that now
    names the resource may still be reopening when the first touch comes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"{waiting_for}: no notifications/resources/updated in {within:g} s"
        assert not (await _call(client, "touch_resource", {"uri": WATCHED})).is_error
        with contextlib.suppress(AssertionError):
            await until(condition, within=0.5)


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
@pytest.mark.parametrize(
    ("transport", "protocol"),
    [pytest.param(t, p, id=f"{t}-{p}") for t, p in WATCHERS],
)
async def test_resource_updates_reach_only_their_subscribers(
    gateway: Gateway, transport: str, protocol: str
) -> None:
    """Legacy clients on /servers/NAME/mcp: lea and max subscribe, ned does not. An update reaches
    the subscribers only; once lea leaves, max alone; once max leaves too, nobody."""
    server = WATCHERS[transport, protocol]
    url = gateway.endpoint(server)
    lea, max_, ned = Person("lea"), Person("max"), Person("ned")

    async with (
        lea.client(url, "legacy") as lea_client,
        max_.client(url, "legacy") as max_client,
        ned.client(url, "legacy") as ned_client,
    ):
        assert lea_client.server_capabilities.resources and lea_client.server_capabilities.resources.subscribe
        await lea_client.subscribe_resource(WATCHED)
        await max_client.subscribe_resource(WATCHED)
        await _touch_until(
            ned_client, lambda: bool(lea.updates()) and bool(max_.updates()), "subscribers lea and max"
        )
        assert set(lea.updates()) == set(max_.updates()) == {WATCHED}
        assert ned.updates() == []

        await lea_client.unsubscribe_resource(WATCHED)
        await asyncio.sleep(0.3)  # an update already on its way may still arrive
        seen = {"lea": len(lea.updates()), "max": len(max_.updates())}
        await _touch_until(ned_client, lambda: len(max_.updates()) > seen["max"], "max, still subscribed")
        assert len(lea.updates()) == seen["lea"], "lea unsubscribed but still gets updates"
        assert ned.updates() == []

        await max_client.unsubscribe_resource(WATCHED)
        await asyncio.sleep(0.3)
        seen = {"lea": len(lea.updates()), "max": len(max_.updates())}
        for _ in range(3):
            assert not (await _call(ned_client, "touch_resource", {"uri": WATCHED})).is_error
        await asyncio.sleep(1.0)
        assert {"lea": len(lea.updates()), "max": len(max_.updates())} == seen, "updates after unsubscribe"
        assert ned.updates() == []


@pytest.mark.parametrize("transport", ["http", "stdio"])
async def test_listen_streams_get_the_resource_updates_they_name(gateway: Gateway, transport: str) -> None:
    """2026-07-28 clients: oli's subscriptions/listen stream names the resource and gets its
    updates; pam's stream listens for list changes only and gets none."""
    server = WATCHERS[transport, "auto"]
    url = gateway.endpoint(server)
    oli, pam = Person("oli"), Person("pam")
    got: dict[str, list[Any]] = {"oli": [], "pam": []}

    async def read(name: str, subscription: AsyncIterator[Any]) -> None:
        async for event in subscription:
            got[name].append(event)

    async with (
        oli.client(url, "2026-07-28") as oli_client,
        pam.client(url, "2026-07-28") as pam_client,
        oli_client.listen(resource_subscriptions=[WATCHED]) as oli_stream,
        pam_client.listen(tools_list_changed=True) as pam_stream,
    ):
        assert list(oli_stream.honored.resource_subscriptions or []) == [WATCHED]
        readers = [
            asyncio.create_task(read("oli", oli_stream)),
            asyncio.create_task(read("pam", pam_stream)),
        ]
        try:
            await _touch_until(pam_client, lambda: bool(got["oli"]), "oli's listen stream")
            await asyncio.sleep(0.3)  # pam's stream would have it by now
        finally:
            for reader in readers:
                reader.cancel()
    assert {getattr(e, "uri", None) for e in got["oli"]} == {WATCHED}
    assert [e for e in got["pam"] if hasattr(e, "uri")] == []
    assert pam.updates() == []  # nor as a stray notification
