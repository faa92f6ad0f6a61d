"""How the pages write durations and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mcpfleet.ui.render import duration, when


def test_durations_and_times_read_at_a_glance() -> None:
    assert [duration(s) for s in (None, 42, 303, 7800, 270000)] == ["—", "42s", "5m 3s", "2h 10m", "3d 3h"]
    paris = timezone(timedelta(hours=1))
    assert when(datetime(2026, 12, 7, 18, 0, 5, tzinfo=paris)) == "2026-12-07 17:00:05"
    assert when(datetime(2026, 12, 7, 17, 0, tzinfo=UTC)) == "2026-12-07 17:00:00" and when(None) == "—"
