"""``python -m mcpfleet``: the command line."""

from __future__ import annotations

from mcpfleet.cli.main import main

main()
