"""The fleet's web dashboard, served by the gateway at ``/ui``: see :mod:`mcpfleet.ui.dashboard`."""

from __future__ import annotations

from mcpfleet.ui.context import DashboardContext
from mcpfleet.ui.dashboard import Dashboard, serves

__all__ = ["Dashboard", "DashboardContext", "serves"]
