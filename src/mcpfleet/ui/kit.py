"""What every page module of the dashboard is given: the gateway's parts and the shared helpers."""

from __future__ import annotations

from dataclasses import dataclass

from mcpfleet.operations import Rollouts
from mcpfleet.ui.context import DashboardContext
from mcpfleet.ui.guard import Guard
from mcpfleet.ui.render import Pages
from mcpfleet.ui.samples import Samples

__all__ = ["Kit"]


@dataclass(frozen=True)
class Kit:
    """``context``: the gateway; ``guard``: who may see and act; ``pages``: the templates;
    ``samples``: the charts' ring; ``rollouts``: rolling updates started here."""

    context: DashboardContext
    guard: Guard
    pages: Pages
    samples: Samples
    rollouts: Rollouts
