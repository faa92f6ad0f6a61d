"""The ``cache`` section of the fleet file, and which tools ``policy_for`` lets the gateway cache."""

from __future__ import annotations

import subprocess
import sys

import pytest

import mcpfleet.cache
from mcpfleet.cache import CacheConfig, CacheStrategy, ToolPolicy
from mcpfleet.config import dump_config, parse_config
from mcpfleet.exceptions import ConfigError

pytestmark = pytest.mark.timeout(10)

READ_ONLY = {"readOnlyHint": True}


def documented_example() -> str:
    """The YAML in the package docstring, as a fleet file."""
    doc = mcpfleet.cache.__doc__ or ""
    lines = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return "\n".join(line[4:] for line in lines)


def test_the_documented_example_parses() -> None:
    cache = parse_config(documented_example()).cache
    assert (cache.backend, cache.redis_url, cache.strategy, cache.max_size, cache.ttl) == (
        "redis", "redis://127.0.0.1:6379/0", CacheStrategy.LRU, 10000, 3600
    )  # fmt: skip
    github = cache.servers["github"]
    assert github.tools == {"get_secret_*": None, "list_*": 300, "search_code": 60}
    assert github.read_only and github.read_only_ttl == 120 and github.shared == ["list_*"]
    assert cache.policy_for("github", "list_repos") == ToolPolicy(300, True)
    assert cache.policy_for("other", "read_file", READ_ONLY) == ToolPolicy(3600, False)


def test_defaults_cache_nothing_and_stay_out_of_dumps() -> None:
    config = parse_config("servers: {}")
    assert config.cache == CacheConfig() and config.cache.enabled and config.cache.backend == "memory"
    assert config.cache.policy_for("github", "list_repos", READ_ONLY) == ToolPolicy(None, False)
    assert "cache" not in dump_config(config)
    with_cache = parse_config("cache: {strategy: LFU, servers: {time: {tools: {now: 1}}}}")
    assert parse_config(dump_config(with_cache)) == with_cache


def test_policy_rules() -> None:
    config = CacheConfig.model_validate(
        {
            "ttl": 600,
            "servers": {
                "github": {
                    "tools": {"list_secrets": None, "list_*": 30, "get_issue": 60},
                    "read_only": True,
                    "shared": ["list_*", "search_*"],
                },
                "docs": {"read_only": True, "read_only_ttl": 5},
                "fs": {"tools": {"read_*": 10}},
                "*": {"tools": {"ping": 1}},
            },
        }
    )
    policy = config.policy_for
    assert policy("github", "list_repos") == (30.0, True)  # listed, shared
    assert policy("github", "get_issue", {"readOnlyHint": False}) == (60.0, False)  # the list wins
    assert policy("github", "list_secrets", READ_ONLY) == (None, False)  # null: never, even read-only
    assert policy("github", "search_code", READ_ONLY) == (600.0, True)  # read-only: the default ttl
    assert policy("github", "create_issue") == (None, False)  # neither listed nor read-only
    assert policy("github", "search_code", {"readOnlyHint": "yes"}) == (None, False)  # only true counts
    assert policy("docs", "fetch", READ_ONLY) == (5.0, False)
    assert policy("docs", "fetch", None) == (None, False)
    assert policy("fs", "read_file", READ_ONLY) == (10.0, False)
    assert policy("fs", "write_file", READ_ONLY) == (None, False)  # read_only is off for fs
    assert policy("fs", "ping") == (None, False)  # a named server does not fall back to "*"
    assert policy("anything", "ping") == (1.0, False)
    assert policy("anything", "pong") == (None, False)

    off = config.model_copy(update={"enabled": False})
    assert off.policy_for("github", "list_repos") == (None, False)


@pytest.mark.parametrize(
    ("yaml", "says"),
    [
        ("cache: {strategy: mru}", "cache.strategy (line 1): strategy 'mru' is not known; use one of lru"),
        ("cache: {backend: redis}", "backend redis needs redis_url (e.g. redis_url: redis://"),
        ("cache: {backend: disk}", "cache.backend"),
        ("cache: {redis_url: 'localhost:6379'}", "cache.redis_url"),
        ("cache: {max_size: 0}", "cache.max_size"),
        ("cache: {ttl: -5}", "cache.ttl"),
        ("cache: {servers: {gh: {tools: {x: 0}}}}", "ttl 0.0 of tools 'x' must be more than 0 seconds; to "
         "keep a tool out of the cache, set its ttl to null"),
        ("cache: {servers: {gh: {tools: {'': 5}}}}", "a tool glob is empty"),
        ("cache: {servers: {gh: {shared: ['']}}}", "a glob in shared is empty"),
        ("cache: {servers: {gh: {read_only_ttl: 5}}}", "read_only_ttl is set but read_only is false"),
        ("cache: {servers: {gh: {tool: {x: 5}}}}", "cache.servers.gh.tool (line 1): Extra inputs"),
        ("cache: {size: 5}", "cache.size (line 1): Extra inputs are not permitted; remove it or check"),
    ],
)  # fmt: skip
def test_config_errors_say_where_and_what_to_do(yaml: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml)
    assert says in str(info.value)


def test_loading_the_config_does_not_import_redis() -> None:
    code = "import sys, mcpfleet.config, mcpfleet.cache; print('redis' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"  # redis-py costs ~0.35 s, and every CLI command loads the config
