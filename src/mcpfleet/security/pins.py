"""Pinned tool definitions: a guard against servers that change their tools behind your back.

The first time the gateway lists a server's tools (or at install), it records a SHA-256 of
each tool's definition (``name``, ``description``, ``inputSchema``, ``annotations`` as
canonical JSON) in the fleet database, with the server's version. Every later upstream
``tools/list`` is compared with those pins. A tool whose definition changed, or a new one, is
*drift*, handled by the server's ``pin:`` policy:

- ``strict``: the tool is held: hidden from clients, and a call to it is refused with a tool
  error saying how to accept it, until ``mcpfleet tools accept SERVER [TOOL]``;
- ``warn`` (the default): served, but logged, alerted on and counted;
- ``off``: not checked at all.

Descriptions are scanned for poisoning (:mod:`mcpfleet.security.poisoning`) at the first pin
and at each change; under ``strict`` a flagged definition is held even at the first pin.
A removed tool simply disappears (its pin stays, so it comes back only as it was).

    pins = ToolPins(PinStore(database), {"github": "strict"})
    pins.review("github", "1.2.0", tools)      # what the upstream listed
    pins.held("github", "create_issue")        # True: its definition changed, not yet accepted
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Column, DateTime, Row, String, Table, Text, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from mcpfleet.clock import Clock, MonotonicClock
from mcpfleet.database import Database, metadata
from mcpfleet.security.poisoning import Finding, describe, scan_tool

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

__all__ = [
    "PinPolicy",
    "PinRecord",
    "PinStore",
    "ToolPins",
    "definition_hash",
    "definition_of",
    "pin_at_install",
]

log = logging.getLogger("mcpfleet.security.pins")

PinPolicy = Literal["strict", "warn", "off"]
ACCEPTED, PENDING = "accepted", "pending"
REFRESH = 1.0  # seconds between re-reads of a server's pins while one of its tools is held

tool_pins = Table(
    "tool_pins",
    metadata,
    Column("server", String(128), primary_key=True),
    Column("tool", String(256), primary_key=True),
    Column("state", String(16), primary_key=True),  # accepted | pending
    Column("hash", String(64), nullable=False),
    Column("definition", Text, nullable=False),
    Column("version", String(128), nullable=False),
    Column("findings", Text, nullable=False),  # JSON list of strings
    Column("at", DateTime(timezone=True), nullable=False),
)
pinned_servers = Table(
    "tool_pin_servers",
    metadata,
    Column("server", String(128), primary_key=True),
    Column("version", String(128), nullable=False),
    Column("pinned_at", DateTime(timezone=True), nullable=False),
)


def definition_of(tool: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a tool that are pinned."""
    return {
        "name": tool.get("name"),
        "description": tool.get("description"),
        "inputSchema": tool.get("inputSchema"),
        "annotations": tool.get("annotations"),
    }


def definition_hash(tool: Mapping[str, Any]) -> str:
    """SHA-256 of the pinned parts as canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(definition_of(tool), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class PinRecord:
    """One pinned (``accepted``) or held (``pending``) definition of a tool."""

    server: str
    tool: str
    state: str
    hash: str
    definition: dict[str, Any]
    version: str
    findings: tuple[str, ...]
    at: datetime


class PinStore:
    """The pins in the fleet database (tables ``tool_pins`` and ``tool_pin_servers``)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        database.create_tables()

    def is_pinned(self, server: str) -> bool:
        with self.database.engine.connect() as conn:
            row = conn.execute(select(pinned_servers.c.server).where(pinned_servers.c.server == server))
            return row.first() is not None

    def records(self, server: str, state: str | None = None) -> list[PinRecord]:
        query = select(tool_pins).where(tool_pins.c.server == server).order_by(tool_pins.c.tool)
        if state is not None:
            query = query.where(tool_pins.c.state == state)
        with self.database.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def hashes(self, server: str) -> tuple[dict[str, str], dict[str, str]]:
        """(accepted, pending) hashes by tool name."""
        query = select(tool_pins.c.tool, tool_pins.c.state, tool_pins.c.hash).where(
            tool_pins.c.server == server
        )
        accepted: dict[str, str] = {}
        pending: dict[str, str] = {}
        with self.database.engine.connect() as conn:
            for tool, state, digest in conn.execute(query):
                (accepted if state == ACCEPTED else pending)[tool] = digest
        return accepted, pending

    def put(
        self, server: str, version: str, tool: Mapping[str, Any], state: str, findings: Iterable[Finding]
    ) -> None:
        """Record ``tool``'s definition as the server's accepted or pending one (replacing any)."""
        name = str(tool.get("name"))
        row = {
            "server": server,
            "tool": name,
            "state": state,
            "hash": definition_hash(tool),
            "definition": json.dumps(definition_of(tool), sort_keys=True, ensure_ascii=False),
            "version": version,
            "findings": json.dumps([str(f) for f in findings]),
            "at": datetime.now(UTC),
        }
        with self.database.engine.begin() as conn:
            conn.execute(
                delete(tool_pins).where(
                    tool_pins.c.server == server, tool_pins.c.tool == name, tool_pins.c.state == state
                )
            )
            conn.execute(insert(tool_pins).values(**row))

    def mark_pinned(self, server: str, version: str) -> None:
        with self.database.engine.begin() as conn:
            conn.execute(delete(pinned_servers).where(pinned_servers.c.server == server))
            conn.execute(
                insert(pinned_servers).values(server=server, version=version, pinned_at=datetime.now(UTC))
            )

    def drop_pending(self, server: str, tool: str) -> None:
        with self.database.engine.begin() as conn:
            conn.execute(
                delete(tool_pins).where(
                    tool_pins.c.server == server, tool_pins.c.tool == tool, tool_pins.c.state == PENDING
                )
            )

    def accept(self, server: str, tool: str | None = None) -> list[PinRecord]:
        """Make the held definitions (of ``tool``, or all of the server's) the accepted ones."""
        accepted = []
        with self.database.engine.begin() as conn:
            query = select(tool_pins).where(tool_pins.c.server == server, tool_pins.c.state == PENDING)
            if tool is not None:
                query = query.where(tool_pins.c.tool == tool)
            for r in list(conn.execute(query)):
                conn.execute(
                    delete(tool_pins).where(tool_pins.c.server == server, tool_pins.c.tool == r.tool)
                )
                conn.execute(
                    insert(tool_pins).values(**{**r._asdict(), "state": ACCEPTED, "at": datetime.now(UTC)})
                )
                accepted.append(dataclasses.replace(_record(r), state=ACCEPTED))
            if (
                accepted
                and conn.execute(select(pinned_servers).where(pinned_servers.c.server == server)).first()
                is None
            ):
                conn.execute(
                    insert(pinned_servers).values(
                        server=server, version=accepted[0].version, pinned_at=datetime.now(UTC)
                    )
                )
        return accepted


def _record(row: Row[Any]) -> PinRecord:
    return PinRecord(
        row.server, row.tool, row.state, row.hash, json.loads(row.definition), row.version,
        tuple(json.loads(row.findings)), row.at,
    )  # fmt: skip


@dataclass
class _Server:
    accepted: dict[str, str]
    pending: dict[str, str]
    current: dict[str, str] = field(default_factory=dict)  # the last upstream list, by name
    held: frozenset[str] = frozenset()
    read_at: float = 0.0
    listed: bool = False  # a tools/list of the server has been reviewed


Alert = Callable[[str, str], None]  # (server, message): hands a drift to the fleet's alert sinks


class ToolPins:
    """Compares each upstream tools/list with the pins and says which tools are held."""

    def __init__(
        self,
        store: PinStore,
        policies: Mapping[str, PinPolicy] | Callable[[str], PinPolicy],
        *,
        alert: Alert | None = None,
        on_drift: Callable[[str, str, str], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        # A server's policy: from a mapping (absent: warn), or asked each time (a live config).
        self._policy = policies if callable(policies) else (lambda s, p=dict(policies): p.get(s, "warn"))
        self.alert = alert
        self.on_drift = on_drift  # (server, tool, "changed" | "new" | "flagged"), for metrics
        self.clock = clock or MonotonicClock()
        self._servers: dict[str, _Server] = {}

    def policy(self, server: str) -> PinPolicy:
        return self._policy(server)

    def reviewed(self, server: str) -> bool:
        """Whether a tools/list of the server has been reviewed (a call may be judged)."""
        state = self._servers.get(server)
        return state is not None and state.listed

    def held_count(self) -> dict[str, int]:
        return {server: len(state.held) for server, state in self._servers.items()}

    def review(self, server: str, version: str, tools: list[dict[str, Any]]) -> None:
        """Compare what the upstream listed with the pins: pin a server seen the first time,
        record, log and alert on drift, and work out what is held."""
        policy = self.policy(server)
        if policy == "off":
            return
        state = self._load(server)
        current = {str(t.get("name")): definition_hash(t) for t in tools}
        if not state.accepted and not state.pending and not self.store.is_pinned(server):
            self._first_pin(server, version, tools, policy, state)
        else:
            for tool in tools:
                name = str(tool.get("name"))
                digest = current[name]
                if state.accepted.get(name) == digest:
                    if name in state.pending:  # back to what was accepted
                        self.store.drop_pending(server, name)
                        del state.pending[name]
                    continue
                if state.pending.get(name) == digest:
                    continue  # already held and reported
                findings = scan_tool(tool)
                self.store.put(server, version, tool, PENDING, findings)
                state.pending[name] = digest
                self._report(server, name, "changed" if name in state.accepted else "new", findings, policy)
        state.current = current
        state.listed = True
        self._judge(state, policy)

    def _first_pin(
        self, server: str, version: str, tools: list[dict[str, Any]], policy: PinPolicy, state: _Server
    ) -> None:
        for tool in tools:
            name = str(tool.get("name"))
            findings = scan_tool(tool)
            flagged = bool(findings) and policy == "strict"
            self.store.put(server, version, tool, PENDING if flagged else ACCEPTED, findings)
            (state.pending if flagged else state.accepted)[name] = definition_hash(tool)
            if findings:
                self._report(server, name, "flagged", findings, policy)
        self.store.mark_pinned(server, version)
        log.info("pinned %d tool definition(s) of %s (version %s)", len(tools), server, version)

    def _report(self, server: str, tool: str, kind: str, findings: list[Finding], policy: PinPolicy) -> None:
        what = {
            "changed": "changed its definition",
            "new": "is new since the server was pinned",
            "flagged": "has a suspicious definition",
        }[kind]
        action = "held until accepted" if policy == "strict" else "served (pin: warn)"
        message = f"tool {tool!r} of {server} {what}; {action}: `mcpfleet tools diff {server}`"
        if policy == "strict":
            message += f", then `mcpfleet tools accept {server} {tool}`"
        if findings:
            message += f"; poisoning patterns: {describe(findings)}"
        if self.on_drift is not None:
            self.on_drift(server, tool, kind)
        if self.alert is not None:
            self.alert(server, message)  # the fleet's alert sinks log it too
        else:
            log.warning("%s", message)

    def _load(self, server: str) -> _Server:
        state = self._servers.get(server)
        if state is None:
            accepted, pending = self.store.hashes(server)
            state = self._servers[server] = _Server(accepted, pending, read_at=self.clock.monotonic())
        return state

    @staticmethod
    def _judge(state: _Server, policy: PinPolicy) -> None:
        if policy != "strict":
            state.held = frozenset()
            return
        state.held = frozenset(n for n, h in state.current.items() if state.accepted.get(n) != h)

    def held(self, server: str, tool: str) -> bool:
        """Whether calls to ``tool`` are refused (and it is hidden). A held tool's pins are
        re-read at most every second, so an accept made by another process is seen soon."""
        state = self._servers.get(server)
        if state is None or tool not in state.held:
            return False
        now = self.clock.monotonic()
        if now - state.read_at >= REFRESH:
            state.accepted, state.pending = self.store.hashes(server)
            state.read_at = now
            self._judge(state, self.policy(server))
        return tool in state.held

    def refusal(self, server: str, tool: str) -> str:
        """What a client is told when it calls a held tool."""
        return (
            f"Tool {tool!r} of server {server!r} is held: its definition changed (or is new) since the "
            f"server's tools were pinned, and an operator has not accepted it yet. An operator reviews "
            f"it with `mcpfleet tools diff {server}` and accepts it with "
            f"`mcpfleet tools accept {server} {tool}`."
        )


def pin_at_install(config: FleetConfig, server: str, version: str, tools: list[dict[str, Any]]) -> None:
    """Pin a server's tools as its install saw them (or check them against its pins), logging
    what is suspicious; nothing when its policy is ``off``. The fleet database being away is
    logged, not raised: the gateway pins at its first list instead."""
    spec = config.servers.get(server)
    policy: PinPolicy = spec.pin if spec is not None else "warn"
    if policy == "off":
        return
    database = Database.for_fleet(config)
    try:
        ToolPins(PinStore(database), {server: policy}).review(server, version, tools)
    except SQLAlchemyError as exc:
        log.error("cannot pin the tools of %s at install (fleet database: %s)", server, type(exc).__name__)
    finally:
        database.dispose()
