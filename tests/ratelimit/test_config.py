"""The fleet file's ``rate_limits:`` section: rates as text, its shape, and errors that say what to write."""

from __future__ import annotations

import pytest

from mcpfleet.config import parse_config
from mcpfleet.exceptions import ConfigError
from mcpfleet.ratelimit import RateLimitConfig
from mcpfleet.ratelimit.config import parse_rate

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("text", "per_second", "count"),
    [("10/s", 10.0, 10.0), ("100/minute", 100 / 60, 100.0), ("5/2s", 2.5, 5.0), ("1000/hour", 1000 / 3600,
     1000.0), ("2 / day", 2 / 86400, 2.0), ("0.5/sec", 0.5, 0.5), (2.5, 2.5, 2.5), ("7/ 1.5 Minutes", 7 / 90,
     7.0)],
)  # fmt: skip
def test_rates_parse(text: str | float, per_second: float, count: float) -> None:
    assert parse_rate(text) == (pytest.approx(per_second), count)


@pytest.mark.parametrize(
    ("text", "says"),
    [("10/fortnight", "not understood"), ("ten/s", "not understood"), ("10", "not understood"),
     ("0/s", "more than zero"), (-1, "more than zero"), ("5/0s", "zero time span")],
)  # fmt: skip
def test_bad_rates_say_what_to_write(text: str | float, says: str) -> None:
    with pytest.raises(ValueError, match=says) as info:
        parse_rate(text)
    if "understood" in says:
        assert "100/minute" in str(info.value)


def test_fleet_file_shape() -> None:
    config = parse_config(
        """
gateway:
  rate_limits:
    backend: redis
    redis_url: redis://127.0.0.1:6379/0
    principals:
      default: {rate: 10/s, burst: 20}
      roles: {admin: {rate: 100/s, burst: 200}}
      names: {ci-bot: {rate: 100/minute}, ops: null}
    servers:
      default: {rate: 500/s}
      names:
        github:
          rate: 5000/hour
          burst: 100
          tools: {"create_*": {rate: 10/minute, burst: 2}}
        search: null
"""
    )
    rl = config.gateway.rate_limits
    assert rl.backend == "redis" and rl.active
    assert (rl.principals.default and rl.principals.default.rate, rl.principals.default.burst) == (10.0, 20)
    ci = rl.principals.names["ci-bot"]
    assert ci is not None and ci.burst == 100 and ci.rate == pytest.approx(100 / 60)
    assert rl.principals.names["ops"] is None
    assert rl.servers.default is not None and rl.servers.default.burst == 500
    github = rl.servers.names["github"]
    assert github is not None and github.limit is not None and github.limit.burst == 100
    assert github.tools["create_*"] is not None
    assert not RateLimitConfig().active


@pytest.mark.parametrize(
    ("yaml_text", "says"),
    [
        ("principals: {default: {rate: 10/fortnight}}", "gateway.rate_limits.principals.default"),
        ("principals: {default: {rate: 10/fortnight}}", "100/minute"),
        ("principals: {default: {rate: 10/s, burst: 0}}", "burst 0 must be at least 1"),
        ("principals: {default: {rate: 0}}", "set it to null"),
        ("backend: redis", "needs redis_url"),
        ("backend: memcached", "'memory' or 'redis'"),
        ("principals: {defualt: {rate: 1/s}}", "defualt"),
        ("servers: {names: {github: {burst: 5}}}", "burst needs a rate"),
    ],
)
def test_config_errors_are_clear(yaml_text: str, says: str) -> None:
    text = "gateway:\n  rate_limits:\n" + "".join(f"    {line}\n" for line in yaml_text.splitlines())
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert says in str(info.value)
