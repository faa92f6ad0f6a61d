"""The gateway benchmark's MCP client: a lean httpx client, not the SDK.

One persistent connection and one MCP session (initialize + notifications/initialized) per
client, then tools/call POSTs, JSON or SSE answers. Every reply is checked (its text must echo
what was sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx

PROTOCOL = "2025-11-25"
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


class CallFailed(Exception):
    pass


def _decode(response: httpx.Response, msg_id: int) -> dict[str, Any]:
    """The JSON-RPC reply with ``msg_id`` from a JSON or an SSE body."""
    if response.status_code != 200:
        raise CallFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if isinstance(message, dict) and message.get("id") == msg_id:
                    return message
        raise CallFailed(f"no reply to {msg_id} in the event stream: {response.text[:200]}")
    message = response.json()
    if not isinstance(message, dict) or message.get("id") != msg_id:
        raise CallFailed(f"unexpected reply: {response.text[:200]}")
    return message


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 on one keep-alive asyncio connection, for httpx's client.

    httpx's default transport (httpcore + h11 + anyio) costs about 0.5 ms of CPU per request
    here, more than the gateways under test, so the generator would measure itself. This one
    writes the request in one piece and reads the reply by Content-Length or chunks (SSE
    replies come chunked). One request at a time: each McpClient owns one connection.
    """

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.reader is not None and self.reader.at_eof():
            await self.aclose()  # the server closed it while idle (uvicorn: after 5 s): reconnect
        if self.writer is None or self.writer.is_closing():
            try:
                self.reader, self.writer = await asyncio.open_connection(
                    request.url.host, request.url.port or 80
                )
            except OSError as exc:
                raise httpx.ConnectError(str(exc), request=request) from None
        try:
            return await self._exchange(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.aclose()
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from None

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        assert self.reader is not None and self.writer is not None
        body = request.content
        head = [f"{request.method} {request.url.raw_path.decode()} HTTP/1.1"]
        head += [
            f"{k}: {v}"
            for k, v in request.headers.items()
            if k not in ("content-length", "transfer-encoding")
        ]
        head.append(f"content-length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = []
        length, chunked, close = None, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            headers.append((name, value))
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")  # (no trailers are sent by these servers)
                    break
                parts.append((await self.reader.readexactly(size + 2))[:-2])
            content = b"".join(parts)
        elif length is not None:
            content = await self.reader.readexactly(length)
        elif status in (204, 304) or status < 200:
            content = b""
        else:
            content, close = await self.reader.read(), True
        if close:
            await self.aclose()
        return httpx.Response(
            status,
            headers=[(k, v) for k, v in headers if k not in ("transfer-encoding", "content-encoding")],
            content=content,
            request=request,
        )

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            self.reader = None


class McpClient:
    """One MCP client: one persistent HTTP connection, one session, then tools/call POSTs."""

    lean = True  # --httpx-transport turns this off to measure httpx's own transport instead

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.http = httpx.AsyncClient(
            headers={**ACCEPT, **(headers or {})},
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            timeout=httpx.Timeout(30.0),
            transport=LeanTransport() if self.lean else None,
        )
        self.ids = 0
        self.tool = "echo"
        self.distinct: int | None = None  # repeat this many distinct calls (cache hits), or all new

    async def _post(self, message: dict[str, Any]) -> httpx.Response:
        return await self.http.post(self.url, content=json.dumps(message, separators=(",", ":")))

    async def rpc(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.ids += 1
        reply = _decode(
            await self._post({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params}), self.ids
        )
        if "error" in reply:
            raise CallFailed(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def open(self, tool_suffix: str = "echo") -> McpClient:
        self.ids += 1
        init = {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"},
        }
        response = await self._post(
            {"jsonrpc": "2.0", "id": self.ids, "method": "initialize", "params": init}
        )
        reply = _decode(response, self.ids)
        if "error" in reply:
            raise CallFailed(f"initialize: {reply['error']}")
        session = response.headers.get("mcp-session-id")
        if session:
            self.http.headers["mcp-session-id"] = session
        self.http.headers["mcp-protocol-version"] = str(reply["result"]["protocolVersion"])
        note = await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        if note.status_code not in (200, 202, 204):
            raise CallFailed(f"notifications/initialized: HTTP {note.status_code}")
        tools = [t["name"] for t in (await self.rpc("tools/list", {}))["tools"]]
        matches = [t for t in tools if t == tool_suffix or t.endswith(tool_suffix)]
        if not matches:
            raise CallFailed(f"no echo tool in {tools}")
        self.tool = min(matches, key=len)
        return self

    async def call(self, text: str) -> None:
        if self.distinct:
            text = f"c{self.ids % self.distinct}"
        result = await self.rpc("tools/call", {"name": self.tool, "arguments": {"text": text}})
        content = result.get("content") or [{}]
        if result.get("isError") or content[0].get("text") != text:
            raise CallFailed(f"wrong result: {result}")

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.http.aclose()
