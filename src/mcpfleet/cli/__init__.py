"""The ``mcpfleet`` command line (typer + rich)."""

from __future__ import annotations

from mcpfleet.cli.main import app, main

__all__ = ["app", "main"]
