"""Durations as the fleet file writes them: ``90s``, ``30m``, ``6h``, ``1d``, ``2w``."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``30m``, ``6h``, ``1d`` or ``2w``; ``ValueError`` that says the forms."""
    found = _DURATION.match(text) if isinstance(text, str) else None
    if found is None or float(found[1]) <= 0:
        raise ValueError(
            f"{text!r} is not a duration; write a positive number and a unit: 90s, 30m, 6h, 1d or 2w"
        )
    return float(found[1]) * _SECONDS[found[2]]
