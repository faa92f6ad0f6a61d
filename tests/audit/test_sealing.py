"""Sealer: the content it hashes is exactly canonical() of the record's content fields."""

from __future__ import annotations

import time

import pytest

from mcpfleet.audit.chain import link
from mcpfleet.audit.masking import Masker
from mcpfleet.audit.records import GENESIS, AuditRecord
from mcpfleet.audit.sealing import Sealer

ODD = [
    # (server, tool, params, outcome, error, latency, user, role, client, request_id)
    ("fs", "read", {"path": "/tmp", "n": 3}, "success", None, 0.5123, "local", None, "127.0.0.1:5", "ab12"),
    ("é\u2028\"\\", "t\n\t", {"z": [1, 2.5, None, True], "a": {"é": "\x01"}}, "tool_error", "boom \"x\"",
     1e-7, "ü", "a,b", None, None),
    (None, None, None, "denied", ValueError("token=abcdefgh123"), None, None, None, None, None),
    ("s", "t", {"big": 2**70, "f": 1e300, "neg": -0.0}, "error", "x" * 5000, 12345678.9, "u", "r", "c", "r"),
    ("s", "t", ["a", {"b": 1}], "cancelled", "", 0, "u", None, "c", "id"),
]  # fmt: skip


def test_sealed_records_hash_their_canonical_content_and_chain_in_order() -> None:
    sealer = Sealer("chain-1", Masker())
    taken: list[AuditRecord] = []
    for server, tool, params, outcome, error, latency, user, role, client, rid in ODD:
        noted = (time.time(), server, tool, params, outcome, error, latency, user, role, client, rid)
        sealer.seal(noted, taken.append)
    prev = GENESIS
    for seq, record in enumerate(taken):
        assert (record.seq, record.prev_hash) == (seq, prev)
        # what verification computes, from the record alone
        assert link(prev, "chain-1", seq, record.content()) == record.hash
        prev = record.hash
    assert taken[2].error is not None and "abcdefgh123" not in taken[2].error  # masked
    assert taken[3].error is not None and len(taken[3].error) == 2000


def test_a_refused_put_leaves_the_chain_where_it_was() -> None:
    sealer = Sealer("chain-2", Masker())

    def refuse(record: AuditRecord) -> None:
        raise RuntimeError("closed")

    noted = (time.time(), "s", "t", None, "success", None, 1.0, None, None, None, None)
    with pytest.raises(RuntimeError, match="closed"):
        sealer.seal(noted, refuse)
    assert (sealer.seq, sealer.prev_hash) == (0, GENESIS)
    assert sealer.seal(noted, None).seq == 0
