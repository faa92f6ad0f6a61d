"""The fleet file's ``autoscale:`` section: defaults, per-server overrides, and errors that say
what to change."""

from __future__ import annotations

import pytest

from mcpfleet.config import FleetConfig, parse_config
from mcpfleet.exceptions import ConfigError

pytestmark = pytest.mark.timeout(60)


def test_autoscale_section_with_per_server_overrides() -> None:
    config = parse_config(
        """
autoscale:
  enabled: true
  interval: 5
  min_instances: 1
  target_in_flight: 4
  servers:
    search: {max_instances: 20, target_in_flight: 8, target_cpu: null}
"""
    )
    assert config.autoscale.enabled and config.autoscale.interval == 5
    search = config.autoscale.policy_for("search")
    assert (search.min_instances, search.max_instances, search.target_in_flight) == (1, 20, 8)
    assert search.target_cpu is None
    other = config.autoscale.policy_for("other")
    assert (other.max_instances, other.target_in_flight, other.target_cpu) == (10, 4, 70)
    assert FleetConfig().autoscale.enabled is False


@pytest.mark.parametrize(
    ("yaml", "says"),
    [
        ("autoscale: {min_instances: 5, max_instances: 2}", "lower min_instances or raise max_instances"),
        ("autoscale: {servers: {search: {max_instances: 1}}}", "servers.search"),
        ("autoscale: {servers: {search: {interval: 3}}}", "interval cannot be set per server"),
        ("autoscale: {target_in_flight: 0}", "greater than 0"),
        ("autoscale: {step: double}", "'one' or 'proportional'"),
    ],
)
def test_bad_autoscale_config_says_what_to_change(yaml: str, says: str) -> None:
    with pytest.raises(ConfigError, match="autoscale") as caught:
        parse_config(yaml)
    assert says in str(caught.value)
