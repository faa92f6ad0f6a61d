"""Launcher: what a failed install leaves in the fleet, and how the fleet file is written; how
starts fail, as the launcher records them: a failure no retry can mend gives up at once with the
installer's own words; one that may pass backs off (real installers against a registry on
loopback that has nothing, real child processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import empty_registry, fleet, own_server
from mcpfleet.catalog import Catalog
from mcpfleet.config import CommandPackage, FleetConfig, NpmPackage, PypiPackage, ServerSpec, load_config
from mcpfleet.exceptions import FleetError, ServerStartError, ServerUnavailableError
from mcpfleet.manager import MCPManager
from mcpfleet.runtime.state import ServerState

pytestmark = pytest.mark.timeout(90)
HAND = "# hand-written\nservers: {}   # none yet\ngateway: {port: 8765}\n"


async def test_a_catalog_server_whose_install_fails_does_not_join_the_fleet(tmp_path: Path) -> None:
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(HAND)
    catalog = Catalog("http://127.0.0.1:9")  # the built-in catalog only: nothing listens there
    manager = MCPManager(fleet, home=tmp_path / "home", catalog=catalog, environ={})
    result = await manager.batch_install(["github"])  # it needs GITHUB_PERSONAL_ACCESS_TOKEN
    outcome = result.by_server("github")
    assert not outcome.ok and "GITHUB_PERSONAL_ACCESS_TOKEN" in (outcome.reason or "")
    assert "github" not in manager.config.servers and manager.lock.get("github") is None
    manager.save_config()
    assert fleet.read_text() == HAND


async def test_save_config_writes_the_servers_and_never_the_home(tmp_path: Path) -> None:
    fleet = tmp_path / "mcpfleet.yaml"
    fleet.write_text(HAND)
    manager = MCPManager(fleet, home=tmp_path / "from-the-command-line", environ={})
    await manager.apply_config("memo", {"package": {"type": "command", "command": "memo"}})
    manager.save_config()
    assert fleet.read_text() == (
        "# hand-written\nservers:   # none yet\n  memo:\n    package: {type: command, command: memo}\n"
        "gateway: {port: 8765}\n"
    )
    assert load_config(fleet).servers == manager.config.servers
    new = tmp_path / "new.yaml"
    MCPManager(FleetConfig(servers=manager.config.servers), home=tmp_path / "h").save_config(new)
    assert "home" not in new.read_text() and load_config(new).servers == manager.config.servers


async def test_a_package_the_registry_lacks_gives_up_at_once_with_the_installers_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ghost = ServerSpec(package=PypiPackage(name="mcpfleet-ghost-server", version="1.0.0"))
    with empty_registry() as registry:
        for key, value in registry.items():
            monkeypatch.setenv(key, value)
        async with MCPManager(fleet(tmp_path / "home", ghost=ghost)) as manager:
            assert manager.server_state("ghost").state is ServerState.IDLE
            result = await manager.batch_install(["ghost"])  # what `mcpfleet up` does first
            assert not result.ok
            for _ in range(2):  # the same, every time it is asked: no retry can mend it
                with pytest.raises(ServerUnavailableError) as info:
                    await manager.start_server("ghost")
                state = manager.server_state("ghost")
                assert state.state is ServerState.GAVE_UP
            assert "not found in the package registry" in str(info.value)  # uv's own words
            assert state.last_error is not None and "\n" not in state.last_error
            assert "not found in the package registry" in state.last_error
            assert state.last_error.endswith("`mcpfleet restart ghost`")
            [row] = manager.status()
            assert row["state"] == "gave_up" and row["failed"] == state.last_error
            assert row["restarts"] == 1 and row["instances"] == []


async def test_an_npm_package_that_does_not_exist_gives_up_when_installed_on_first_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ghost = ServerSpec(package=NpmPackage(name="mcpfleet-ghost-server", version="1.0.0"))
    with empty_registry() as registry:
        for key, value in registry.items():
            monkeypatch.setenv(key, value)
        async with MCPManager(fleet(tmp_path / "home", ghost=ghost), auto_install=True) as manager:
            with pytest.raises(FleetError, match=r"npm has no mcpfleet-ghost-server@1\.0\.0"):
                await manager.start_server("ghost")
            state = manager.server_state("ghost")
            assert state.state is ServerState.GAVE_UP
            assert (
                state.last_error is not None and "npm has no mcpfleet-ghost-server@1.0.0" in state.last_error
            )


async def test_a_command_that_is_not_there_gives_up_and_a_crashing_one_backs_off(tmp_path: Path) -> None:
    missing = ServerSpec(package=CommandPackage(command=str(tmp_path / "no-such-server")))
    crashing = own_server("toy.py", "--mode", "exit")
    home = tmp_path / "home"
    async with MCPManager(fleet(home, missing=missing, crashing=crashing), auto_install=True) as manager:
        with pytest.raises(FleetError, match="not found on PATH"):
            await manager.start_server("missing")
        assert manager.server_state("missing").state is ServerState.GAVE_UP

        with pytest.raises(ServerStartError, match="exited with code 3"):
            await manager.start_server("crashing")
        state = manager.server_state("crashing")  # it may start next time: tried again with backoff
        assert state.state is ServerState.BACKING_OFF
        assert state.last_error == (
            "its process exited with code 3 during start (toy: fatal: missing configuration, exiting)"
        )
        assert state.next_try is None  # nobody planned one: the health monitor does (test_monitoring)

        await manager.stop_server("crashing")
        assert manager.server_state("crashing").state is ServerState.STOPPED


async def test_installed_from_another_shell_it_starts_on_restart(tmp_path: Path) -> None:
    """`mcpfleet install NAME` beside a running fleet, then `mcpfleet restart NAME`: the fleet sees
    the new install (the lock file on disk), though it read the lock before."""
    config = fleet(tmp_path / "home", toy=own_server("toy.py"))
    async with MCPManager(config) as running:
        with pytest.raises(ServerUnavailableError, match="not installed; run `mcpfleet install toy`"):
            await running.start_server("toy")
        assert running.server_state("toy").state is ServerState.GAVE_UP
        async with MCPManager(config.model_copy(deep=True)) as other_shell:
            await other_shell.install("toy")
        await running.restart_server("toy")
        state = running.server_state("toy")
        assert state.state is ServerState.READY and state.last_error is None and state.restarts == 1
