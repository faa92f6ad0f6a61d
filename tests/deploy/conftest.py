"""A sample fleet with every kind of package the deploy renderers handle, and its secrets."""

from __future__ import annotations

import pytest

from deploy_helpers import REFERENCED_SECRET, SAMPLE, SEARCH_SECRET
from mcpfleet.config import FleetConfig, parse_config


@pytest.fixture
def sample() -> FleetConfig:
    return parse_config(SAMPLE)


@pytest.fixture
def environ() -> dict[str, str]:
    return {"GH_TOKEN": REFERENCED_SECRET, "SEARCH_TOKEN": SEARCH_SECRET}
