"""The ``per_caller:`` settings and which secrets a stdio server's env and args name."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mcpfleet.percaller import PerCallerConfig, uses_caller_secrets


def test_defaults_and_bounds() -> None:
    assert (PerCallerConfig().max_instances, PerCallerConfig().idle_timeout) == (32, 300.0)
    for bad in ({"max_instances": 0}, {"idle_timeout": 0}, {"max_instanses": 3}):
        with pytest.raises(ValidationError):
            PerCallerConfig.model_validate(bad)


def test_the_secrets_named_in_env_and_args_escaped_ones_aside() -> None:
    env = ["${user:b}-${HOME}", "$${user:not_one}", "plain"]
    assert uses_caller_secrets(env, ["--token=${user:a}", "${user:b}"]) == ["a", "b"]
    assert uses_caller_secrets(["${VAR}"], ["x"]) == []
