"""One word per server and the instance counts the overview shows."""

from __future__ import annotations

import pytest

from mcpfleet.ui.fleet import counts, server_state

pytestmark = pytest.mark.timeout(10)


def row(**values: object) -> dict[str, object]:
    return {"enabled": True, "failed": None, "mode": None, "instances": [], **values}


def test_the_status_own_state_wins_and_is_otherwise_derived() -> None:
    ready = [{"state": "ready"}]
    assert server_state(row(state="backing_off", instances=ready)) == "backing off"
    assert server_state(row(state={"state": "gave_up", "last_error": "no such package"})) == "gave up"
    assert server_state(row(enabled=False)) == "disabled"
    assert server_state(row(failed="crashed 5 times")) == "gave up"
    assert server_state(row(mode="draining", instances=ready)) == "draining"
    assert server_state(row()) == "stopped"
    assert server_state(row(instances=[{"state": "starting"}, {"state": "ready"}])) == "ready"
    assert server_state(row(instances=[{"state": "failed"}])) == "failed"


def test_counts_follow_the_server_mode_and_keep_new_states() -> None:
    instances = [{"state": "ready"}, {"state": "ready"}, {"state": "starting"}, {"state": "zombie"}]
    assert counts(row(instances=instances)) == [("ready", 2), ("starting", 1), ("zombie", 1)]
    assert counts(row(mode="maintenance", instances=instances))[0] == ("starting", 1)
    assert ("maintenance", 2) in counts(row(mode="maintenance", instances=instances))
