"""Secure by default: beyond loopback, the fleet file must say how callers authenticate."""

from __future__ import annotations

import pytest

from mcpfleet.config import dump_config, parse_config
from mcpfleet.exceptions import ConfigError
from mcpfleet.security import AuthConfig, check_exposure
from mcpfleet.security.exposure import is_loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_needs_nothing(host: str) -> None:
    assert is_loopback(host)
    check_exposure(host, AuthConfig())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "fleet.example.com", ""])
def test_anything_else_without_auth_is_refused_with_what_to_write(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError) as info:
        check_exposure(host, AuthConfig())
    message = str(info.value)
    assert f"listen on {host!r}" in message
    for advice in ("auth: {mode: api_key}", "mcpfleet keys create", "auth: none", "host: 127.0.0.1"):
        assert advice in message


def test_explicit_modes_allow_exposure_and_survive_export() -> None:
    for text in ("auth: none", "auth: {mode: none}", "auth: api_key", "auth: {mode: api_key}"):
        config = parse_config(f"gateway: {{host: 0.0.0.0}}\n{text}")
        check_exposure(config.gateway.host, config.auth)
        # Exporting keeps an explicit `none`, so a round trip does not silently lock the gateway.
        again = parse_config(dump_config(config))
        assert again.auth.mode == config.auth.mode
        check_exposure(again.gateway.host, again.auth)
    assert parse_config("servers: {}").auth.mode is None
