from __future__ import annotations

from pathlib import Path

import pytest

from mcpfleet.exceptions import SecretError
from mcpfleet.secrets import REDACTED, load_env_file, redact, references, resolve


def test_resolves_variables_defaults_files_and_dollars(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    variables = {"HOST": "db", "PORT": "5432"}
    assert resolve("postgres://${HOST}:${PORT}/x", variables, where="w") == "postgres://db:5432/x"
    assert resolve("${USER_NAME:-anon}", variables, where="w") == "anon"
    assert resolve(f"Bearer ${{file:{secret}}}", variables, where="w") == "Bearer s3cret"
    assert resolve("cost: $$5", variables, where="w") == "cost: $5"


def test_missing_variable_says_where_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SecretError, match=r"servers\.gh\.env\.TOKEN: \$\{GH_TOKEN\} is not set; export it"):
        resolve("${GH_TOKEN}", {}, where="servers.gh.env.TOKEN")
    with pytest.raises(SecretError, match="cannot read secret file"):
        resolve(f"${{file:{tmp_path / 'missing'}}}", {}, where="w")
    with pytest.raises(SecretError, match="not a valid reference"):
        resolve("${not valid}", {}, where="w")


def test_env_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("A=1\nB='two words'\n")
    assert load_env_file(env) == {"A": "1", "B": "two words"}
    assert load_env_file(tmp_path / "none") == {}
    assert load_env_file(None) == {}


def test_redaction_keeps_references_and_hides_literal_secrets() -> None:
    out = redact({"API_KEY": "sk-123", "TOKEN": "${TOKEN}", "LEVEL": "debug", "password": "hunter2"})
    assert out == {"API_KEY": REDACTED, "TOKEN": "${TOKEN}", "LEVEL": "debug", "password": REDACTED}
    assert references("${A} and ${B:-x} and ${file:/p}") == ["A", "B", "file:/p"]
