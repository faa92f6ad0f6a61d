"""Every package re-exports exactly its core types, and every name in ``__all__`` exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import mcpfleet

MODULES = sorted(
    {
        "mcpfleet",
        "mcpfleet.manager",
        "mcpfleet.loadbalancer",
        "mcpfleet.pooling",
        "mcpfleet.monitoring",
        "mcpfleet.metrics",
    }
    | {m.name for m in pkgutil.walk_packages(mcpfleet.__path__, "mcpfleet.") if m.ispkg}
)


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ has duplicates"
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names {attr!r}, which does not exist"
        assert not attr.startswith("_")


def test_guide_api_is_importable() -> None:
    from mcpfleet.manager import InstallStrategy, MCPManager

    assert {"PARALLEL", "SEQUENTIAL"} <= set(InstallStrategy.__members__)
    methods = (
        "batch_install", "install", "start_server", "stop_server", "restart_server", "list_servers",
        "get_server_instances", "list_tools", "execute_tool", "get_all_configs", "apply_config",
        "health_check", "aclose", "drain_connections", "set_maintenance_mode", "configure_failover",
        "switch_server_url",
    )  # fmt: skip
    for method in methods:
        assert callable(getattr(MCPManager, method)), method


def test_guide_pooling_and_balancing_are_importable() -> None:
    from mcpfleet.loadbalancer import LoadBalancer, Strategy
    from mcpfleet.pooling import ConnectionPool

    assert {"ROUND_ROBIN", "LEAST_CONNECTIONS", "RANDOM", "WEIGHTED"} <= set(Strategy.__members__)
    for method in ("add_instance", "remove_instance", "get_instance", "redirect_traffic", "restore_traffic"):
        assert callable(getattr(LoadBalancer, method)), method
    assert callable(ConnectionPool.get_stats)


def test_guide_audit_is_importable() -> None:
    from mcpfleet.audit import AuditLogger

    for method in ("log_operation", "query", "record", "verify", "flush", "close", "aclose"):
        assert callable(getattr(AuditLogger, method)), method


def test_the_version_is_pyprojects() -> None:
    """One version, in pyproject.toml: the package and `mcpfleet --version` read the installed one."""
    import tomllib
    from pathlib import Path

    from typer.testing import CliRunner

    from mcpfleet.cli.main import app

    version = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert mcpfleet.__version__ == version
    shown = CliRunner().invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.output.strip() == f"mcpfleet {version}"
