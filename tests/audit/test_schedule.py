"""Scheduled pruning inside `mcpfleet up`, and the store's size and pruned count on /metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from audit_helpers import sealed
from helpers import FakeClock, until
from mcpfleet.audit import AuditLogger, AuditPruner, JsonlAuditStore
from mcpfleet.audit.checkpoint import KEY_FILE
from mcpfleet.config import parse_config
from mcpfleet.manager import MCPManager
from mcpfleet.metrics import MetricsCollector

pytestmark = pytest.mark.timeout(30)


def scrape(manager: MCPManager, audit: AuditLogger) -> dict[str, float]:
    metrics = MetricsCollector(manager)
    metrics.audit = audit
    text = metrics.render().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


async def test_the_pruner_prunes_at_start_and_then_every_interval(tmp_path: Path) -> None:
    config = parse_config(f"home: {tmp_path}\nservers: {{}}\naudit: {{store: jsonl, prune_every: 6h}}")
    log = tmp_path / "audit.jsonl"
    JsonlAuditStore(log).write(sealed("host-1-old", [{"tool": "t"}] * 7))
    manager = MCPManager(config, environ={})
    audit = AuditLogger.from_config(config)
    audit.record(server="fs", tool="read_file")
    clock = FakeClock()
    pruner = AuditPruner.for_fleet(manager, audit, clock=clock)
    assert pruner is not None and pruner.every == 6 * 3600
    try:
        pruner.start()
        await until(lambda: len(pruner.completed) >= 2)  # at start, and 6 (fake) hours later
    finally:
        await pruner.stop()
    assert not pruner.running and pruner.failures == 0
    assert [r.pruned for r in pruner.completed[:2]] == [7, 0]
    assert clock.now - 1000.0 >= 6 * 3600
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600  # made by the first prune
    audit.flush()
    assert audit.measure_store() == log.stat().st_size
    figures = scrape(manager, audit)
    assert figures["mcp_audit_records_pruned_total"] == 7
    assert figures["mcp_audit_store_bytes"] == log.stat().st_size
    assert audit.verify(pruner.key()).ok
    await audit.aclose()
    await manager.aclose()


async def test_a_failed_prune_is_counted_and_the_schedule_goes_on(tmp_path: Path) -> None:
    config = parse_config(
        f"home: {tmp_path}\nservers: {{}}\naudit: {{store: jsonl, checkpoint_key: '${{NOT_SET}}'}}"
    )
    manager = MCPManager(config, environ={})
    audit = AuditLogger.from_config(config)
    pruner = AuditPruner.for_fleet(manager, audit, clock=FakeClock())
    assert pruner is not None
    try:
        pruner.start()
        await until(lambda: pruner.failures >= 2)
    finally:
        await pruner.stop()
    assert pruner.completed == [] and "${NOT_SET} is not set" in (pruner.last_error or "")
    await audit.aclose()
    await manager.aclose()


async def test_no_audit_log_no_pruner_and_no_retention_only_measures(tmp_path: Path) -> None:
    config = parse_config(f"home: {tmp_path}\nservers: {{}}\naudit: {{store: jsonl, retention_days: null}}")
    manager = MCPManager(config, environ={})
    assert AuditPruner.for_fleet(manager, None) is None
    audit = AuditLogger.from_config(config)
    pruner = AuditPruner.for_fleet(manager, audit, clock=FakeClock())
    assert pruner is not None and pruner.every is None
    assert "mcp_audit_store_bytes" not in scrape(manager, audit)  # not measured yet: not made up
    try:
        pruner.start()
        await until(lambda: audit.stats.store_bytes is not None)
    finally:
        await pruner.stop()
    assert pruner.completed == [] and not (tmp_path / KEY_FILE).exists()
    assert scrape(manager, audit)["mcp_audit_records_pruned_total"] == 0
    await audit.aclose()
    await manager.aclose()
