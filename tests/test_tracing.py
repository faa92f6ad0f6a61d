"""OpenTelemetry spans exported over real OTLP/HTTP to a local receiver, and the W3C trace
context each side of the gateway sees: the caller's in, the gateway's hop out to the upstream."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from helpers import fleet, own_server, routing_headers
from mcpfleet.config import GatewayConfig, TracingConfig
from mcpfleet.gateway import Gateway, GatewayServer
from mcpfleet.manager import MCPManager

pytestmark = pytest.mark.timeout(60)

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
HEADERS = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2026-07-28"}


class Receiver:
    """An OTLP/HTTP trace receiver: what the exporter posts, decoded with the OTLP protobufs."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.content_types: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.content_types.append(self.headers["content-type"])
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        receiver.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"

    def named(self, name: str, trace: str | None = None) -> Any:
        found = [s for s in self.spans if s.name == name and trace in (None, s.trace_id.hex())]
        assert len(found) == 1, f"{name}: {[s.name for s in self.spans]}"
        return found[0]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
async def traced(tmp_path: Path, receiver: Receiver) -> AsyncIterator[tuple[str, GatewayServer]]:
    config = fleet(tmp_path / "home", toy=own_server("toy.py"))
    config.gateway = GatewayConfig(port=0)
    config.tracing = TracingConfig(otlp_endpoint=receiver.url, service_name="fleet-under-test")
    async with MCPManager(config, auto_install=True) as manager:
        assert set((await manager.start_all()).values()) == {"ready"}
        server = GatewayServer(Gateway(manager))
        await server.start()
        try:
            yield server.url, server
        finally:
            await server.stop()


def _call(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": {"text": "hi"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                **meta,
            },
        },
    }


def _headers(body: dict[str, Any]) -> dict[str, str]:
    return {**HEADERS, **routing_headers(body)}


async def test_spans_join_the_callers_trace_and_the_upstream_gets_the_hop(
    traced: tuple[str, GatewayServer], receiver: Receiver
) -> None:
    url, server = traced
    caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "tracestate": "rojo=00f067aa0ba902b7"}
    async with httpx.AsyncClient(timeout=30) as http:
        echo, fail = _call("toy__echo", caller), _call("toy__fail", {})
        reply = (await http.post(f"{url}/mcp", json=echo, headers=_headers(echo))).json()
        failed = (await http.post(f"{url}/mcp", json=fail, headers=_headers(fail))).json()
    assert "error" in failed or failed["result"].get("isError")
    seen = reply["result"]["structuredContent"]["meta"]  # the _meta the upstream server received
    await server.stop()  # flushes the exporter's queue

    assert {"application/x-protobuf"} == set(receiver.content_types)
    request = receiver.named("tools/call toy__echo")
    middleware = receiver.named("mcpfleet.middleware metrics", CALLER_TRACE)
    audit = receiver.named("mcpfleet.middleware audit", CALLER_TRACE)
    hop = receiver.named("tools/call echo")
    assert request.trace_id.hex() == CALLER_TRACE and request.parent_span_id.hex() == CALLER_SPAN
    assert request.kind == request.SPAN_KIND_SERVER and hop.kind == hop.SPAN_KIND_CLIENT
    assert middleware.parent_span_id == request.span_id and audit.parent_span_id == middleware.span_id
    # No access, rate limits or cache in this fleet: after audit comes the pin check (pin: warn).
    pins = receiver.named("mcpfleet.middleware pins", CALLER_TRACE)
    assert pins.parent_span_id == audit.span_id and hop.parent_span_id == pins.span_id
    assert {hop.trace_id.hex(), middleware.trace_id.hex()} == {CALLER_TRACE}
    attributes = {a.key: a.value.string_value for a in request.attributes}
    assert attributes["mcp.method.name"] == "tools/call"
    assert attributes["gen_ai.tool.name"] == "toy__echo"
    assert attributes["mcp.protocol.version"] == "2026-07-28"
    # The upstream's parent is the gateway's hop, in the same trace; the caller's tracestate rides on.
    assert seen["traceparent"] == f"00-{CALLER_TRACE}-{hop.span_id.hex()}-01"
    assert seen["tracestate"] == "rojo=00f067aa0ba902b7"
    # A call with no caller context starts a trace of its own, marked failed.
    failing = receiver.named("tools/call toy__fail")
    assert failing.trace_id.hex() != CALLER_TRACE and not failing.parent_span_id
    assert failing.status.code == failing.status.STATUS_CODE_ERROR


async def test_without_an_endpoint_there_is_no_tracing_and_context_passes_through(tmp_path: Path) -> None:
    config = fleet(tmp_path / "home", toy=own_server("toy.py"))
    config.gateway = GatewayConfig(port=0)
    async with MCPManager(config, auto_install=True) as manager:
        await manager.start_all()
        gateway = Gateway(manager)
        assert gateway.engine.tracing is None
        server = GatewayServer(gateway)
        await server.start()
        try:
            caller = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
            async with httpx.AsyncClient(timeout=30) as http:
                echo = _call("toy__echo", caller)
                reply = await http.post(f"{server.url}/mcp", json=echo, headers=_headers(echo))
        finally:
            await server.stop()
    # Untraced, the gateway is transparent: the caller's own context reaches the upstream.
    assert reply.json()["result"]["structuredContent"]["meta"]["traceparent"] == caller["traceparent"]


def test_tracing_off_imports_no_opentelemetry() -> None:
    code = (
        "import sys, mcpfleet.gateway, mcpfleet.manager;"
        "print(any(m.startswith('opentelemetry') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
