"""OpenTelemetry traces for the gateway, exported over OTLP/HTTP; off (and never imported) by default.

Turned on by ``tracing.otlp_endpoint`` in the fleet YAML. Each MCP request gets a SERVER span
named as the OpenTelemetry MCP conventions say (``tools/call get_weather``), a child span per
middleware on the tool-call path, and a CLIENT span per hop to an instance. Trace context
travels in the request's ``params._meta`` (``traceparent``, ``tracestate``, ``baggage``,
unprefixed, per SEP-414): a caller's context becomes the parent of the gateway's span, and the
hop's context is what the upstream server receives.

The gateway uses its own tracer provider, never the global one, so an application embedding
mcpfleet keeps its own tracing set-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mcpfleet import __version__

if TYPE_CHECKING:
    from mcpfleet.config import TracingConfig
    from mcpfleet.gateway.context import ClientState, ToolCall
    from mcpfleet.gateway.middleware import CallNext, Middleware

__all__ = ["Tracing"]

_TARGETED = {"tools/call": "name", "prompts/get": "name"}  # methods whose span name carries a target


class Tracing:
    """Spans for requests, middlewares and upstream hops; ``shutdown()`` flushes what is queued."""

    def __init__(self, config: TracingConfig, *, exporter: SpanExporter | None = None) -> None:
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(
                endpoint=config.otlp_endpoint, headers=config.headers, timeout=config.export_timeout
            )
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": config.service_name, "service.version": __version__}),
            sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
        )
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer("mcpfleet", __version__)
        self._propagator = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])

    @contextlib.contextmanager
    def request_span(
        self, method: str, params: dict[str, Any], client: ClientState, msg_id: Any, rid: str
    ) -> Iterator[Span]:
        """The gateway's span for one request; its parent is the context in ``params._meta``."""
        meta = params.get("_meta")
        parent = self._propagator.extract(meta) if isinstance(meta, dict) else None
        target = params.get(_TARGETED.get(method, ""))
        attributes: dict[str, Any] = {
            "mcp.method.name": method,
            "mcp.protocol.version": client.protocol_version,
            "jsonrpc.request.id": str(msg_id),
            "mcpfleet.request_id": rid,
        }
        if not client.stateless:
            attributes["mcp.session.id"] = client.id
        if method == "tools/call" and isinstance(target, str):
            attributes.update({"gen_ai.tool.name": target, "gen_ai.operation.name": "execute_tool"})
        name = f"{method} {target}" if isinstance(target, str) else method
        with self._tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as span:
            yield span

    @staticmethod
    def outcome(span: Span, reply: dict[str, Any]) -> None:
        """Mark a span failed when the reply is an error or a tool error."""
        error = reply.get("error")
        if isinstance(error, dict):
            span.set_attribute("error.type", str(error.get("code")))
            span.set_attribute("rpc.response.status_code", str(error.get("code")))
            span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))))
        elif isinstance(reply.get("result"), dict) and reply["result"].get("isError"):
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, "tool_error"))

    def wrap_middleware(self, middleware: Middleware, call_next: CallNext) -> CallNext:
        """A middleware step inside a span of its own (what it and everything after it took)."""
        name = f"mcpfleet.middleware {middleware.name}"
        tracer = self._tracer

        async def step(call: ToolCall) -> dict[str, Any]:
            with tracer.start_as_current_span(name, kind=SpanKind.INTERNAL):
                return await call_next(call)

        return step

    @contextlib.contextmanager
    def upstream_span(self, server: str, tool: str, params: dict[str, Any]) -> Iterator[Span]:
        """The hop to an instance; its trace context goes into ``params._meta`` for the upstream."""
        attributes = {
            "mcp.method.name": "tools/call",
            "gen_ai.tool.name": tool,
            "gen_ai.operation.name": "execute_tool",
            "mcpfleet.server": server,
        }
        with self._tracer.start_as_current_span(
            f"tools/call {tool}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            meta = params.get("_meta")
            carrier: dict[str, Any] = dict(meta) if isinstance(meta, dict) else {}
            for key in ("traceparent", "tracestate", "baggage"):
                carrier.pop(key, None)  # the caller's context is our parent now, not the upstream's
            self._propagator.inject(carrier)
            params["_meta"] = carrier
            yield span

    def shutdown(self) -> None:
        """Export what is queued (blocking, bounded by the export timeout), then stop."""
        self._provider.shutdown()
