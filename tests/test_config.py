from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mcpfleet.config import FleetConfig, NpmPackage, dump_config, load_config, parse_config
from mcpfleet.exceptions import ConfigError

GOOD = """
home: ./fleet
servers:
  memory:
    package: {type: npm, name: "@modelcontextprotocol/server-memory", version: "2026.8.31"}
    env: {MEMORY_FILE_PATH: "${MCPFLEET_SERVER_DATA}/memory.json"}
  time:
    package: {type: pypi, name: mcp-server-time}
    instances: 2
  remote:
    package: {type: remote, url: "http://127.0.0.1:9/mcp"}
    headers: {Authorization: "Bearer ${TOKEN}"}
"""


def test_parses_every_package_type(tmp_path: Path) -> None:
    path = tmp_path / "mcpfleet.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    assert list(config.servers) == ["memory", "time", "remote"]
    assert isinstance(config.servers["memory"].package, NpmPackage)
    assert config.servers["time"].instances == 2
    assert config.servers["remote"].transport == "http"
    assert config.servers["memory"].transport == "stdio"
    # relative home is taken from the file's folder
    assert config.home_path() == tmp_path / "fleet"


def test_reports_every_problem_with_path_line_and_hint() -> None:
    bad = """servers:
  fs:
    package: {type: npn, name: x}
  ok:
    package: {type: pypi, name: y}
    instancs: 3
  Bad Name:
    package: {type: command, command: echo}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(bad, source="f.yaml")
    problems = info.value.problems
    assert len(problems) == 3, problems
    text = "\n".join(problems)
    assert "servers.fs.package (line 3)" in text and "npm, pypi, oci, command, remote" in text
    assert "servers.ok.instancs (line 6)" in text and "remove it or check its spelling" in text
    assert "Bad Name" in text and "lower-case" in text


def test_invalid_yaml_and_wrong_shape_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML at line 3"):
        parse_config("servers:\n  a: [\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_config("- a\n- b\n")
    with pytest.raises(ConfigError, match="mcpfleet init"):
        load_config(tmp_path / "nope.yaml")


def test_remote_rejects_args_and_bad_urls() -> None:
    with pytest.raises(ConfigError, match="remote server takes no args"):
        parse_config("servers:\n  r:\n    package: {type: remote, url: 'http://x/mcp'}\n    args: [a]\n")
    with pytest.raises(ConfigError, match=r"servers\.r\.package\.url"):
        parse_config("servers:\n  r:\n    package: {type: remote, url: 'ftp://x'}\n")


def test_dump_round_trips_and_stays_short() -> None:
    config = parse_config(GOOD)
    text = dump_config(config)
    assert "restart" not in text and "startup_timeout" not in text
    again = parse_config(text)
    assert again.servers == config.servers


def test_empty_file_is_an_empty_fleet() -> None:
    assert parse_config("") == FleetConfig()


def test_pin_and_token_exchange_fields() -> None:
    config = parse_config(
        """
servers:
  local: {package: {type: command, command: x}}
  remote:
    package: {type: remote, url: "https://mcp.example.com/mcp"}
    pin: strict
    headers: {Authorization: "Bearer ${user:github_token}"}
    token_exchange: {token_endpoint: "https://idp.example.com/token", client_id: gw, audience: "https://mcp.example.com"}
"""
    )
    assert config.servers["local"].pin == "warn" and config.servers["remote"].pin == "strict"
    exchange = config.servers["remote"].token_exchange
    assert exchange is not None and exchange.skew == 30.0 and exchange.header == "Authorization"
    with pytest.raises(ConfigError) as refused:
        parse_config(
            """
servers:
  a: {package: {type: command, command: x}, token_exchange: {token_endpoint: "https://i/t", client_id: c}}
  b: {package: {type: command, command: x}, headers: {X-Token: "${user:t}"}}
  c: {package: {type: remote, url: "https://x/mcp"}, pin: sometimes}
  d: {package: {type: command, command: x}, per_caller: {max_instances: 2}}
"""
        )
    problems = "\n".join(refused.value.problems)
    assert "servers.a (line 3): token_exchange is for remote servers" in problems
    assert (
        "servers.b (line 4): ${user:NAME} (a secret of each caller) works in the headers of remote"
        in problems
    )
    assert "servers.c.pin (line 5)" in problems
    assert (
        "servers.d (line 6): per_caller is for stdio servers whose env or args use ${user:NAME}" in problems
    )


def test_stdio_servers_may_use_caller_secrets_in_env_and_args() -> None:
    config = parse_config(
        """
servers:
  gh:
    package: {type: command, command: x}
    args: ["--token-file-of", "${user:other}"]
    env: {TOKEN: "${user:t}", HOME_DIR: "${HOME:-/}"}
    per_caller: {max_instances: 4, idle_timeout: 60}
  plain: {package: {type: command, command: x}, env: {A: "$${user:t}"}}
"""
    )
    gh, plain = config.servers["gh"], config.servers["plain"]
    assert gh.per_caller_secrets() == ["other", "t"] and plain.per_caller_secrets() == []
    assert gh.per_caller is not None and (gh.per_caller.max_instances, gh.per_caller.idle_timeout) == (
        4,
        60.0,
    )
    with pytest.raises(ConfigError, match="max_instances"):
        parse_config(
            "servers:\n  gh: {package: {type: command, command: x}, env: {T: '${user:t}'}, "
            "per_caller: {max_instances: 0}}"
        )


def test_readiness_is_all_any_or_servers_of_the_fleet() -> None:
    fleet = (
        "servers:\n  a: {package: {type: command, command: x}}\n  b: {package: {type: command, command: x}}\n"
    )
    assert parse_config(fleet).gateway.readiness == "all"  # what /readyz always meant
    assert parse_config(fleet + "gateway: {readiness: any}").gateway.readiness == "any"
    assert parse_config(fleet + "gateway: {readiness: [b]}").gateway.readiness == ["b"]
    with pytest.raises(ConfigError) as unknown:
        parse_config(fleet + "gateway: {readiness: [b, ghost]}")
    assert unknown.value.problems == [
        "gateway (line 4): readiness names 'ghost', not in the fleet; its servers: a, b"
    ]
    for bad in ("some", "[]", "3"):
        with pytest.raises(ConfigError) as refused:
            parse_config(fleet + f"gateway: {{readiness: {bad}}}")
        [problem] = refused.value.problems
        assert problem.startswith("gateway.readiness (line 4): use `all`, `any` or a list of server names")
    assert "readiness" not in dump_config(parse_config(fleet))  # the default is not written


def test_loading_a_fleet_file_imports_no_database_or_network_library() -> None:
    # A new interpreter: the fleet's models alone, as every command that reads the fleet file needs.
    heavy = ("sqlalchemy", "psycopg", "redis", "httpx", "starlette", "uvicorn", "mcp", "jwt", "kubernetes")
    probe = (
        "import sys, mcpfleet.config\n"
        f"print(*sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == [], f"importing mcpfleet.config imported {done.stdout.strip()}"


def test_gateway_workers_are_1_to_64() -> None:
    assert parse_config("servers: {}\n").gateway.workers == 1
    assert parse_config("gateway: {workers: 4}\nservers: {}\n").gateway.workers == 4
    for bad in (0, 65):
        with pytest.raises(ConfigError, match="workers"):
            parse_config(f"gateway: {{workers: {bad}}}\nservers: {{}}\n")
