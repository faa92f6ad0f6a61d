"""A server's state folded from its instances, its starts and its balancer mode; errors as one line."""

from __future__ import annotations

import pytest

from mcpfleet.exceptions import (
    STDERR_MARKER,
    InstallError,
    PackageNotFoundError,
    SecretError,
    ServerStartError,
    ToolchainMissingError,
)
from mcpfleet.runtime.state import (
    ServerState,
    StartHistory,
    StateSnapshot,
    cannot_heal,
    one_line,
    server_state,
)

pytestmark = pytest.mark.timeout(10)

READY = StateSnapshot(ServerState.READY, None, 1)
BACKING_OFF = StateSnapshot(ServerState.BACKING_OFF, "exited with code 3", 2, next_try=2000.0)
GAVE_UP = StateSnapshot(ServerState.GAVE_UP, "gave up after 5 restarts", 5)


def fold(*instances: StateSnapshot, history: StartHistory | None = None, starting: bool = False,
         mode: str | None = None) -> StateSnapshot:  # fmt: skip
    return server_state(instances=list(instances), history=history, starting=starting, mode=mode)


def test_a_server_is_what_its_most_useful_instance_is() -> None:
    assert fold() == StateSnapshot(ServerState.IDLE)
    one_down = fold(READY, BACKING_OFF)
    assert one_down.state is ServerState.READY
    assert one_down.last_error == "exited with code 3" and one_down.restarts == 3
    assert fold(BACKING_OFF, GAVE_UP) == StateSnapshot(
        ServerState.BACKING_OFF, "gave up after 5 restarts", 7, next_try=2000.0
    )  # still tried: backing off; but the error worth reading first is the one that stopped one
    assert fold(GAVE_UP, GAVE_UP).state is ServerState.GAVE_UP
    assert fold(StateSnapshot(ServerState.STOPPED)).state is ServerState.STOPPED
    assert fold(READY, mode="maintenance").state is ServerState.MAINTENANCE
    assert fold(READY, mode="draining").state is ServerState.DRAINING
    assert fold(StateSnapshot(ServerState.STOPPED), starting=True).state is ServerState.STARTING


def test_a_start_history_moves_from_backing_off_to_gave_up_and_back() -> None:
    history = StartHistory()
    history.starting()
    assert fold(history=history, starting=True).state is ServerState.STARTING
    history.failed("exited with code 3", permanent=False)
    history.next_try = 1234.5
    assert fold(history=history) == StateSnapshot(ServerState.BACKING_OFF, "exited with code 3", 0, 1234.5)
    history.starting()  # tried again: a restart
    history.failed("PyPI has no ghost", permanent=True)
    assert fold(history=history) == StateSnapshot(ServerState.GAVE_UP, "PyPI has no ghost", 1)
    history.starting()
    history.succeeded()
    assert fold(READY, history=history) == StateSnapshot(ServerState.READY, None, 3)  # 1 + 2 retries
    history.stop()
    assert fold(history=history) == StateSnapshot(ServerState.STOPPED, None, 2)


def test_summaries_say_what_comes_next() -> None:
    assert BACKING_OFF.summary(now=1992.0) == "backing off (next try in 8s): exited with code 3"
    assert StateSnapshot(ServerState.BACKING_OFF, "x").summary() == "backing off (tried again soon): x"
    assert GAVE_UP.summary() == "gave up: gave up after 5 restarts"
    assert READY.summary() == "ready"
    row = {"server": "s", **BACKING_OFF.to_dict(), "instances": []}
    assert StateSnapshot.from_dict(row) == BACKING_OFF
    assert StateSnapshot.from_dict({}).state is ServerState.IDLE  # a row from before states


def test_an_error_is_one_line_with_its_last_words_and_no_secret() -> None:
    error = ServerStartError(
        "db", "its process exited with code 1 during start", "connecting as admin:hunter22\nFATAL: refused"
    )
    assert STDERR_MARKER in str(error)
    assert one_line(error, ["hunter22"]) == "db: its process exited with code 1 during start (FATAL: refused)"
    assert "hunter22" not in one_line(ServerStartError("db", "bad password hunter22"), ["hunter22"])
    installer = "PyPI has no ghost 1.0; check the name and version:\n  cause: ghost is not in the registry"
    assert one_line(installer) == (
        "PyPI has no ghost 1.0; check the name and version: (cause: ghost is not in the registry)"
    )
    assert len(one_line("x" * 1000)) == 300


def test_only_failures_no_retry_can_mend_are_lasting() -> None:
    assert cannot_heal(PackageNotFoundError("ghost", "npm has no ghost@1.0"))
    assert cannot_heal(ToolchainMissingError("ghost", "`npm` is not on PATH"))
    assert cannot_heal(SecretError("servers.db.env.PASSWORD: ${DB_PASSWORD} is not set"))
    assert not cannot_heal(InstallError("ghost", "npm install failed (exit 1): ETIMEDOUT"))
    assert not cannot_heal(ServerStartError("db", "its process exited with code 1 during start"))
    assert not cannot_heal(None)
