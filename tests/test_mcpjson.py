from __future__ import annotations

import json

import pytest

from mcpfleet.config import CommandPackage, FleetConfig, NpmPackage, OciPackage, PypiPackage, RemotePackage
from mcpfleet.exceptions import ConfigError
from mcpfleet.mcpjson import export_servers, import_servers, redact_config

CLAUDE = {
    "mcpServers": {
        "Filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem@2026.8.31", "/srv"],
        },
        "time": {"command": "uvx", "args": ["mcp-server-time==2026.10.19", "--local-timezone", "UTC"]},
        "github": {
            "command": "docker",
            "args": [
                "run",
                "-i",
                "--rm",
                "-e",
                "GITHUB_PERSONAL_ACCESS_TOKEN",
                "ghcr.io/github/github-mcp-server:v1",
            ],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_secretvalue"},
        },
        "local": {"command": "/usr/bin/python3", "args": ["server.py"], "env": {"LEVEL": "debug"}},
        "remote": {"url": "https://example.test/mcp", "headers": {"Authorization": "Bearer abc"}},
    }
}


def test_claude_config_becomes_pinned_packages_with_secrets_moved_out() -> None:
    result = import_servers(json.dumps(CLAUDE))
    s = result.servers
    assert set(s) == {"filesystem", "time", "github", "local", "remote"}
    assert s["filesystem"].package == NpmPackage(
        name="@modelcontextprotocol/server-filesystem", version="2026.8.31"
    )
    assert s["filesystem"].args == ["/srv"]
    assert s["time"].package == PypiPackage(name="mcp-server-time", version="2026.10.19")
    assert s["time"].args == ["--local-timezone", "UTC"]
    assert s["github"].package == OciPackage(image="ghcr.io/github/github-mcp-server", version="v1")
    assert s["local"].package == CommandPackage(command="/usr/bin/python3")
    assert s["local"].env == {"LEVEL": "debug"}
    assert s["remote"].package == RemotePackage(url="https://example.test/mcp")
    # secrets leave the config and become references
    assert s["github"].env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_GITHUB_PERSONAL_ACCESS_TOKEN}"}
    assert s["remote"].headers == {"Authorization": "${REMOTE_AUTHORIZATION}"}
    assert result.secrets == {
        "GITHUB_GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_secretvalue",
        "REMOTE_AUTHORIZATION": "Bearer abc",
    }
    assert any("'Filesystem' imported as 'filesystem'" in n for n in result.notes)


def test_vscode_dialect_inputs_and_env_references() -> None:
    vscode = {
        "inputs": [{"id": "key", "type": "promptString", "password": True}],
        "servers": {
            "search": {
                "type": "stdio",
                "command": "npx",
                "args": ["-y", "@x/search"],
                "env": {"API_KEY": "${input:key}", "HOME_DIR": "${env:HOME}"},
            },
            "web": {"type": "http", "url": "http://127.0.0.1:9000/mcp"},
        },
    }
    result = import_servers(json.dumps(vscode))
    assert result.servers["search"].env == {"API_KEY": "${SEARCH_API_KEY}", "HOME_DIR": "${HOME}"}
    assert result.servers["search"].package == NpmPackage(name="@x/search", version="latest")
    assert any("SEARCH_API_KEY" in n for n in result.notes)
    assert result.servers["web"].package.type == "remote"


def test_name_clashes_with_existing_servers_get_suffixes() -> None:
    result = import_servers(json.dumps({"mcpServers": {"time": {"command": "x"}}}), existing={"time"})
    assert list(result.servers) == ["time-2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"other": {}}', "no `mcpServers` or `servers`"),
        ('{"mcpServers": {"a": {"args": []}}}', "a: needs `command`"),
        ('{"mcpServers": {"a": 3}}', "a: expected an object"),
    ],
)
def test_bad_input_is_reported(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        import_servers(text)


def test_export_round_trips_and_never_leaks_secrets() -> None:
    imported = import_servers(json.dumps(CLAUDE))
    config = FleetConfig(servers=imported.servers)
    config.servers["local"].env["API_TOKEN"] = "literal-secret"
    for dialect in ("claude", "vscode"):
        text = export_servers(config, dialect=dialect)  # type: ignore[arg-type]
        assert "literal-secret" not in text and "ghp_secretvalue" not in text
    claude = json.loads(export_servers(config))["mcpServers"]
    assert claude["time"] == {
        "command": "uvx",
        "args": ["mcp-server-time==2026.10.19", "--local-timezone", "UTC"],
    }
    assert claude["local"]["env"]["API_TOKEN"] == "***"
    vscode = json.loads(export_servers(config, dialect="vscode"))["servers"]
    assert vscode["github"]["env"] == {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "${env:GITHUB_GITHUB_PERSONAL_ACCESS_TOKEN}"
    }
    again = import_servers(export_servers(config))
    assert again.servers["filesystem"] == config.servers["filesystem"]
    assert again.servers["time"] == config.servers["time"]
    assert redact_config(config).servers["local"].env["API_TOKEN"] == "***"


def test_uvx_with_and_python_become_constraints_and_python_and_back() -> None:
    args = ["--python", "3.12", "--with", "mcp<2", "mcp-server-sqlite==2025.4.25", "-v"]
    server = {"command": "uvx", "args": args}
    imported = import_servers(json.dumps({"mcpServers": {"sqlite": server}})).servers["sqlite"]
    assert imported.package == PypiPackage(
        name="mcp-server-sqlite", version="2025.4.25", python="3.12", constraints=["mcp<2"]
    )
    assert imported.args == ["-v"]
    exported = json.loads(export_servers(FleetConfig(servers={"sqlite": imported})))["mcpServers"]["sqlite"]
    assert exported == server
