"""What the deploy plan refuses, for both renderers, saying what to write instead: a gateway beyond
loopback without auth, servers that cannot be containerised, a password inside a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_helpers import SAMPLE
from mcpfleet.config import parse_config
from mcpfleet.deploy.compose import render_compose
from mcpfleet.deploy.kubernetes import render_manifests
from mcpfleet.exceptions import DeployError

pytestmark = pytest.mark.timeout(60)


def test_a_gateway_beyond_loopback_without_auth_is_refused_with_what_to_write(tmp_path: Path) -> None:
    config = parse_config(SAMPLE.replace("auth: none\n", ""))
    with pytest.raises(DeployError, match=r"auth: \{mode: api_key\}"):
        render_compose(config, tmp_path, network="bridge", environ={})
    with pytest.raises(DeployError, match=r"listens on 0\.0\.0\.0"):
        render_manifests(config, environ={})


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("  box:\n    package: {type: oci, image: mcp/fetch}\n", "oci packages cannot be bridged"),
        ("  to_y:\n    package: {type: command, command: x}\n"
         "  to-y:\n    package: {type: command, command: y}\n",
         "both become 'mcp-to-y'"),
    ],
)  # fmt: skip
def test_servers_that_cannot_be_containerised_are_refused(extra: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=message):
        render_compose(parse_config(SAMPLE + extra), tmp_path, environ={})


def test_a_password_inside_a_url_is_refused_rather_than_written(tmp_path: Path) -> None:
    config = parse_config(SAMPLE + "database_url: postgresql://fleet:hunter2@db/fleet\n")
    with pytest.raises(DeployError, match="PGPASSWORD") as caught:
        render_compose(config, tmp_path, environ={})
    assert "hunter2" not in str(caught.value)
    assert not (tmp_path / "compose.yaml").exists()
