"""The docs site: `mkdocs build --strict` passes, and its reference pages cover the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from mcpfleet.cli.main import app
from mcpfleet.config import FleetConfig, GatewayConfig, ServerSpec
from mcpfleet.gateway.admin import OPENAPI

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _text(site: Path, page: str) -> str:
    html = (site / page / "index.html").read_text(encoding="utf-8")
    return re.sub(r"<[^>]+>", "", html)


def test_the_configuration_reference_has_every_key(site: Path) -> None:
    text = _text(site, "reference/configuration")
    for model in (FleetConfig, GatewayConfig, ServerSpec):
        assert model.__name__ in text
        for name, field in model.model_fields.items():
            assert (field.alias or name) in text, f"{model.__name__}.{name} is not in the reference"


def test_the_command_reference_has_every_command(site: Path) -> None:
    text = _text(site, "reference/cli")
    commands = getattr(typer.main.get_command(app), "commands", {})
    names = sorted(name for name, command in commands.items() if not command.hidden)
    assert len(names) > 15
    for name in names:
        assert f"mcpfleet {name}" in text, f"`mcpfleet {name}` is not in the reference"


def test_the_admin_api_reference_has_every_path(site: Path) -> None:
    text = _text(site, "reference/admin-api")
    for path, operations in OPENAPI["paths"].items():
        for method in operations:
            assert f"{method.upper()} {path}" in text


def test_the_guide_page_maps_every_section_of_the_guide(site: Path) -> None:
    text = _text(site, "guide")
    for section in (
        "Pre-installation setup", "Continuous health checks", "Connection pooling", "Caching strategies",
        "Load balancing", "Backup and restore", "Failover strategies", "Access control", "Audit logging",
        "Auto-scaling", "Rolling updates", "Maintenance mode",
    ):  # fmt: skip
        assert section in text
