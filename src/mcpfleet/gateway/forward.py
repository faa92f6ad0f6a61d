"""Forwarding one client request to the fleet, with every round it takes.

A request goes upstream with its :class:`~mcpfleet.gateway.context.CallChannel` set, so what
the upstream says about it comes straight back to its client. Input requests (sampling,
elicitation, roots) are bridged between the protocol generations both ways:

- a 2026-07-28 upstream answers ``input_required``: a session client is asked each input request
  as a request of ours, and the upstream gets the answers in a retry (``MAX_INPUT_ROUNDS`` at
  most); a 2026-07-28 client gets the result as it is, its ``requestState`` prefixed with the
  instance that holds the state, so its retry returns there;
- a session upstream sends its own request mid-call: a session client gets it relayed; a
  2026-07-28 client gets an ``input_required`` result whose ``requestState`` names the call,
  which stays open upstream until the client's retry brings the answers (``INPUT_TIMEOUT``).

The bridged calls wait in this process: a retry must reach the same gateway replica.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcpfleet.exceptions import ToolCallError
from mcpfleet.gateway.context import INPUT_TIMEOUT, CallChannel, ClientState
from mcpfleet.gateway.jsonrpc import INVALID_PARAMS, META_PREFIX, RpcError, tool_error
from mcpfleet.protocol.channel import current_channel

if TYPE_CHECKING:
    from mcpfleet.gateway.views import Upstream
    from mcpfleet.tracing import Tracing

__all__ = ["MAX_INPUT_ROUNDS", "Forwarder", "upstream_params"]

log = logging.getLogger("mcpfleet.gateway")

MAX_INPUT_ROUNDS = 10
_STATE_PREFIX = "mcpfleet1."  # requestState = prefix + instance id + "." + the upstream's own
_BRIDGE_PREFIX = "mcpfleet2."  # requestState = prefix + the id of a call waiting here for answers
_GATHER = 0.02  # seconds to wait for more requests after the first (a server may ask several at once)
# Envelope keys of a 2026-07-28 client that speak for the client, not the gateway: passed on.
_PASSED = (META_PREFIX + "logLevel", META_PREFIX + "clientCapabilities")


def upstream_params(params: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The client's params for the upstream: its protocol envelope is not forwarded (the
    upstream connection adds its own), except what speaks for the client."""
    out = {**params, **changes}
    meta = out.get("_meta")
    if isinstance(meta, dict) and any(k.startswith(META_PREFIX) for k in meta):
        out["_meta"] = {k: v for k, v in meta.items() if not k.startswith(META_PREFIX) or k in _PASSED}
    return out


class _InputFailed(Exception):
    """A client could not, or would not, answer an upstream's input request."""


class _Bridge:
    """Requests a session upstream makes during a 2026-07-28 client's call, waiting for answers."""

    def __init__(self) -> None:
        self.keys = itertools.count(1)
        self.asked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.open: dict[str, tuple[str, dict[str, Any], asyncio.Future[dict[str, Any]]]] = {}

    async def ask(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.open[str(next(self.keys))] = (method, params, answer)
        if not self.asked.done():
            self.asked.set_result(None)
        return await answer

    def rearm(self) -> None:
        if self.asked.done():
            self.asked = asyncio.get_running_loop().create_future()


@dataclass
class _Waiting:
    """A bridged call parked between rounds."""

    task: asyncio.Task[dict[str, Any]]
    bridge: _Bridge
    method: str
    owner: str | None
    pin: list[str]
    expiry: asyncio.TimerHandle | None = field(default=None)


class Forwarder:
    """Sends client requests to the fleet and carries their rounds (see the module docstring)."""

    def __init__(self, upstream: Upstream, tracing: Tracing | None = None) -> None:
        self.upstream = upstream
        self.tracing = tracing
        self._waiting: dict[str, _Waiting] = {}

    async def forward(
        self,
        server: str,
        method: str,
        params: dict[str, Any],
        client: ClientState,
        channel: CallChannel | None,
        *,
        tool: str | None = None,
    ) -> dict[str, Any]:
        """One client request upstream, to its final result (or an ``input_required`` round for
        a 2026-07-28 client)."""
        answers = params.get("inputResponses", {})
        if not isinstance(answers, dict) or not all(isinstance(r, dict) for r in answers.values()):
            raise RpcError(
                INVALID_PARAMS, "Invalid params: inputResponses must be an object of result objects by key"
            )
        pin: list[str] = []
        state = params.get("requestState")
        if isinstance(state, str):
            if state.startswith(_BRIDGE_PREFIX):
                return await self._resume(state[len(_BRIDGE_PREFIX) :], method, params, client)
            if state.startswith(_STATE_PREFIX):
                instance, _, rest = state[len(_STATE_PREFIX) :].partition(".")
                params = {**params, "requestState": rest}
                with contextlib.suppress(ValueError):
                    pin.append(base64.urlsafe_b64decode(instance + "==").decode())
        if client.stateless and channel is not None:
            if not self.upstream.speaks_stateless(server):
                # A session upstream may ask mid-call: the call runs apart, so its requests can
                # become an input_required round while it waits.
                return await self._bridged(server, method, params, client, channel, pin, tool)
            token = current_channel.set(channel)
            try:  # its own input_required rounds go to the client as they are
                return self._rounded(await self._send(server, method, params, client, pin, tool), pin)
            finally:
                current_channel.reset(token)
        token = current_channel.set(channel)
        try:
            result = await self._send(server, method, params, client, pin, tool)
            for _ in range(MAX_INPUT_ROUNDS):
                if result.get("resultType") != "input_required":
                    return result
                try:
                    responses = await self._ask(server, result, channel)
                except _InputFailed as exc:
                    if method == "tools/call":
                        return tool_error(str(exc))
                    raise RpcError(INVALID_PARAMS, str(exc)) from None
                retry = {k: v for k, v in params.items() if k not in ("inputResponses", "requestState")}
                retry["inputResponses"] = responses
                if result.get("requestState") is not None:
                    retry["requestState"] = result["requestState"]
                result = await self._send(server, method, retry, client, pin, tool)
            message = f"{server} asked for input more than {MAX_INPUT_ROUNDS} times; gave up"
            if method == "tools/call":
                return tool_error(message)
            raise RpcError(INVALID_PARAMS, message)
        finally:
            current_channel.reset(token)

    async def _send(
        self,
        server: str,
        method: str,
        params: dict[str, Any],
        client: ClientState,
        pin: list[str],
        tool: str | None,
    ) -> dict[str, Any]:
        """One hop to an instance (a span of its own when tracing is on)."""
        if self.tracing is None or tool is None:
            return await self.upstream.request(server, method, params, session_key=client.id, pin=pin)
        with self.tracing.upstream_span(server, tool, params) as span:
            result = await self.upstream.request(server, method, params, session_key=client.id, pin=pin)
            self.tracing.outcome(span, {"result": result})
            return result

    @staticmethod
    async def _ask(server: str, result: dict[str, Any], channel: CallChannel | None) -> dict[str, Any]:
        """Put a 2026-07-28 upstream's input requests to a session client; the answers by key."""
        responses: dict[str, Any] = {}
        requests = result.get("inputRequests")
        for key, request in (requests if isinstance(requests, dict) else {}).items():
            method = str(request.get("method")) if isinstance(request, dict) else "?"
            if channel is None:
                raise _InputFailed(f"{server} needs {method} from the client, but it was not asked for")
            try:
                responses[key] = await channel.ask(method, dict(request.get("params") or {}))
            except ToolCallError as exc:
                raise _InputFailed(
                    f"{server} needs {method} from the client, which declined: {exc.error_message}"
                ) from None
        return responses

    # ------------------------------------------------------------------ 2026-07-28 clients

    def _rounded(self, result: dict[str, Any], pin: list[str]) -> dict[str, Any]:
        """An upstream's own ``input_required`` for a 2026-07-28 client: its state names the instance."""
        if (
            result.get("resultType") == "input_required"
            and isinstance(result.get("requestState"), str)
            and pin
        ):
            instance = base64.urlsafe_b64encode(pin[0].encode()).decode().rstrip("=")
            return {**result, "requestState": f"{_STATE_PREFIX}{instance}.{result['requestState']}"}
        return result

    async def _bridged(
        self,
        server: str,
        method: str,
        params: dict[str, Any],
        client: ClientState,
        channel: CallChannel,
        pin: list[str],
        tool: str | None,
    ) -> dict[str, Any]:
        bridge = _Bridge()
        channel.bridge = bridge.ask
        token = current_channel.set(channel)
        try:
            task = asyncio.get_running_loop().create_task(
                self._send(server, method, params, client, pin, tool)
            )
        finally:
            current_channel.reset(token)
        task.add_done_callback(_retrieve)  # a call whose client never came back fails unheard
        waiting = _Waiting(task, bridge, method, _owner(client), pin)
        return await self._round(waiting)

    async def _round(self, waiting: _Waiting) -> dict[str, Any]:
        """Wait for the call's result, or for the requests it makes, whichever comes first."""
        task, bridge = waiting.task, waiting.bridge
        try:
            await asyncio.wait((task, bridge.asked), return_when=asyncio.FIRST_COMPLETED)
            while not task.done():  # a server may ask several things at once: take them together
                before = len(bridge.open)
                await asyncio.wait((task,), timeout=_GATHER)
                if len(bridge.open) == before:
                    break
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task.done():
            return self._rounded(task.result(), waiting.pin)
        bridge.rearm()
        state = secrets.token_urlsafe(18)
        self._waiting[state] = waiting
        waiting.expiry = asyncio.get_running_loop().call_later(INPUT_TIMEOUT, self._expire, state)
        requests = {key: {"method": m, "params": p} for key, (m, p, _) in bridge.open.items()}
        return {
            "resultType": "input_required",
            "inputRequests": requests,
            "requestState": _BRIDGE_PREFIX + state,
        }

    async def _resume(
        self, state: str, method: str, params: dict[str, Any], client: ClientState
    ) -> dict[str, Any]:
        waiting = self._waiting.get(state)
        if waiting is None or waiting.method != method or waiting.owner != _owner(client):
            raise RpcError(
                INVALID_PARAMS,
                "Invalid params: requestState is not one this gateway issued, or it expired; "
                "send the request again without it",
            )
        del self._waiting[state]
        if waiting.expiry is not None:
            waiting.expiry.cancel()
        responses = params.get("inputResponses")
        responses = responses if isinstance(responses, dict) else {}
        for key in [k for k in waiting.bridge.open if k in responses]:
            _, _, answer = waiting.bridge.open.pop(key)
            response = responses[key]
            if not answer.done():
                answer.set_result(response if isinstance(response, dict) else {})
        if waiting.bridge.open and not waiting.bridge.asked.done():  # some unanswered: ask again
            waiting.bridge.asked.set_result(None)
        return await self._round(waiting)

    def _expire(self, state: str) -> None:
        waiting = self._waiting.pop(state, None)
        if waiting is not None:
            log.info(
                "a bridged %s waited %gs for the client's answers; cancelled", waiting.method, INPUT_TIMEOUT
            )
            waiting.task.cancel()


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _owner(client: ClientState) -> str | None:
    principal = client.principal
    return None if principal is None else f"{principal.method}:{principal.name}"
