"""Logging: JSON lines for machines, readable lines on a terminal, a request id in both.

The gateway sets :data:`request_id` for each request it handles; every log record made while
serving it carries that id, and so does the ``data`` of any JSON-RPC error it returns, so an
error a client reports can be found in the logs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import IO, Literal

__all__ = ["JsonFormatter", "configure_logging", "new_request_id", "request_id"]

request_id: ContextVar[str | None] = ContextVar("mcpfleet_request_id", default=None)
_random_hex: list[str] = []  # 12 random hex digits each, drawn from the OS in batches


def new_request_id() -> str:
    """A request id: 12 random hex digits (48 bits), as ``secrets.token_hex(6)`` gives, with
    one call to the OS per 1,024 ids rather than one per request."""
    if not _random_hex:
        pool = os.urandom(6 * 1024).hex()
        _random_hex.extend(pool[i : i + 12] for i in range(0, len(pool), 12))
    return _random_hex.pop()


os.register_at_fork(after_in_child=_random_hex.clear)  # a forked child draws its own
LogFormat = Literal["auto", "json", "text"]


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{line} [request {rid}]" if rid is not None else line


def configure_logging(
    level: str | int = "WARNING", fmt: LogFormat = "auto", stream: IO[str] | None = None
) -> None:
    """Log to ``stream`` (stderr): ``auto`` is readable text on a terminal, JSON lines otherwise."""
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "text" if out.isatty() else "json"
    handler = logging.StreamHandler(out)
    handler.addFilter(_RequestId())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
