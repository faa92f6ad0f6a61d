"""Log lines: JSON for machines, text on a terminal, the request id in both."""

from __future__ import annotations

import io
import json
import logging

import pytest

from mcpfleet.logs import configure_logging, request_id


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_json_lines_carry_the_request_id() -> None:
    out = io.StringIO()
    configure_logging("INFO", "auto", stream=out)  # not a terminal: JSON
    token = request_id.set("abc123")
    try:
        logging.getLogger("mcpfleet.gateway").warning("tools/call failed: %s", "time: gone")
    finally:
        request_id.reset(token)
    logging.getLogger("mcpfleet.gateway").info("no request here")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "warning" and first["logger"] == "mcpfleet.gateway"
    assert first["message"] == "tools/call failed: time: gone" and first["request_id"] == "abc123"
    assert first["time"].endswith("Z") and "request_id" not in second


def test_text_lines_for_people() -> None:
    out = io.StringIO()
    configure_logging("INFO", "text", stream=out)
    token = request_id.set("r1")
    try:
        logging.getLogger("mcpfleet").error("boom")
    finally:
        request_id.reset(token)
    assert out.getvalue().rstrip().endswith("ERROR mcpfleet: boom [request r1]")


def test_request_ids_are_12_random_hex_digits_and_do_not_repeat() -> None:
    from mcpfleet.logs import new_request_id

    ids = [new_request_id() for _ in range(5000)]  # several batches from the OS
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)
