"""Sealing: a noted call becomes an :class:`AuditRecord` linked into its writer's hash chain.

:meth:`AuditLogger.submit <mcpfleet.audit.AuditLogger.submit>` only notes a call (a tuple, taken
on the event loop without a lock); the :class:`Sealer` masks it, gives it its id, ``seq`` and
canonical content, and links it to the record before, in the order the calls were noted. It
runs on the writer thread (or in :meth:`~mcpfleet.audit.AuditLogger.record`), under the
logger's seal lock.

The canonical content is written field by field with the JSON encoder's own string escaping
and the C encoder for ``params``: the same text :func:`~mcpfleet.audit.records.canonical` makes
of the whole dict (what :meth:`AuditRecord.content` and verification compute), for a third
of the work.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from mcpfleet.audit.chain import link
from mcpfleet.audit.masking import Masker, clean_text
from mcpfleet.audit.records import GENESIS, AuditRecord, canonical

__all__ = ["Noted", "Sealer"]

# (unix time, server, tool, params, outcome, error, latency_ms, user, role, client, request_id)
Noted = tuple[
    float, str | None, str | None, Any, str, Any, float | None, str | None, str | None, str | None, str | None
]

_quote: Callable[[str], str] = encode_basestring  # what json.dumps(..., ensure_ascii=False) uses


def _text(value: str | None, limit: int = 255) -> str | None:
    if value is None or (len(value) <= limit and value.isascii() and "\x00" not in value):
        return value  # the usual case: nothing to clean or cut
    return clean_text(value)[:limit]


def _json(value: str | None) -> str:
    return "null" if value is None else _quote(value)


class Sealer:
    """Numbers, masks and links the records of one chain (not thread-safe: the caller locks)."""

    def __init__(self, chain: str, masker: Masker) -> None:
        self.chain = chain
        self.masker = masker
        self.seq = 0
        self.prev_hash = GENESIS
        self._id_prefix, self._ids = os.urandom(8).hex(), itertools.count()

    def seal(self, noted: Noted, put: Callable[[AuditRecord], None] | None) -> AuditRecord:
        """The next record of the chain, made of ``noted``, handed to ``put`` (which may refuse
        by raising: the chain then stays where it was)."""
        moment, server, tool, params, outcome, error, latency, user, role, client, request_id = noted
        record_id = f"{self._id_prefix}{next(self._ids):016x}"  # 64 random bits per logger + a counter
        when = datetime.fromtimestamp(moment, UTC)
        server, tool, user, role = _text(server), _text(tool), _text(user), _text(role)
        client, request_id = _text(client), _text(request_id)
        outcome = clean_text(outcome)[:32]
        if params is not None:
            params = self.masker.mask(params)
        if error is not None:
            error = self.masker.mask_text(str(error))[:2000]
        if latency is not None:
            latency = round(float(latency), 3)  # finite: AuditLogger checks it
        args = "null" if params is None else canonical(params)
        took = "null" if latency is None else float.__repr__(latency)  # json's own float text
        content = (
            f'{{"client":{_json(client)},"error":{_json(error)},'
            f'"id":"{record_id}","latency_ms":{took},'
            f'"outcome":{_quote(outcome)},"params":{args},'
            f'"request_id":{_json(request_id)},"role":{_json(role)},'
            f'"server":{_json(server)},"time":"{when.isoformat(timespec="microseconds")}",'
            f'"tool":{_json(tool)},"user":{_json(user)}}}'
        )  # canonical() of the content fields (what AuditRecord.content() computes), for a third of the work
        digest = link(self.prev_hash, self.chain, self.seq, content)
        record = AuditRecord(
            record_id, when, self.chain, self.seq, self.prev_hash, digest,
            server, tool, params, outcome, error, latency, user, role, client, request_id,
        )  # fmt: skip
        if put is not None:
            put(record)
        self.seq += 1
        self.prev_hash = digest
        return record
