"""``sync_mirror`` against a registry stand-in on loopback serving 2,000 servers over many pages:
a full sync, an incremental one that fetches only what changed, and registries that refuse or
ignore ``updated_since``."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_helpers import RegistryStandIn, run_registry, sqlite_mirror
from mcpfleet.catalog import RegistryClient
from mcpfleet.catalog.sync import sync_mirror

pytestmark = pytest.mark.timeout(120)
COUNT = 2000


@pytest.fixture
def standin() -> RegistryStandIn:
    return RegistryStandIn.generated(COUNT)


async def test_a_full_sync_follows_every_cursor_and_keeps_every_version(
    tmp_path: Path, standin: RegistryStandIn
) -> None:
    mirror = sqlite_mirror(tmp_path)
    with run_registry(standin) as url:
        report = await sync_mirror(mirror, RegistryClient(url))
    total = len(standin.entries)  # 2,000 latest versions and 200 older ones
    assert (report.fetched, report.stored, report.pages) == (total, total, -(-total // 100))
    assert not report.incremental and report.offered == mirror.count() == COUNT
    cursors = [q.get("cursor") for q in standin.requests]
    assert cursors[0] is None and len(set(cursors)) == len(cursors) == report.pages
    assert all(
        q == {"limit": "100", **({"cursor": q["cursor"]} if "cursor" in q else {})} for q in standin.requests
    )
    name = "io.github.owner96/weather-gateway-1260"
    latest = mirror.get(name)
    assert latest is not None and latest.server == standin.latest(name).server and latest.version == "1.0.0"
    old = mirror.get(name, "0.9.0")
    assert old is not None and not old.is_latest
    assert [v.version for v in mirror.versions(name)] == ["1.0.0", "0.9.0"]
    state = mirror.state()
    assert (
        state is not None
        and state.source == url
        and state.watermark == max(e.updated_at for e in standin.entries.values())
    )


async def test_an_incremental_sync_fetches_only_what_changed(
    tmp_path: Path, standin: RegistryStandIn
) -> None:
    mirror = sqlite_mirror(tmp_path)
    with run_registry(standin) as url:
        await sync_mirror(mirror, RegistryClient(url))
        watermark = mirror.state().watermark  # type: ignore[union-attr]
        standin.requests.clear()
        standin.update("io.github.owner5/files-tools-5", description="Now with replicas")
        standin.update("io.github.owner7/browser-tools-7", title="Browser Tools Seven")
        standin.add({**standin.latest("io.github.owner1/github-tools-1").server, "version": "2.0.0"})
        standin.delete("io.github.owner2/postgres-tools-2")
        report = await sync_mirror(mirror, RegistryClient(url))
    assert [q.get("updated_since") for q in standin.requests] == [watermark]
    # the two edits, the new version and its predecessor (no longer latest), the deleted one
    assert report.incremental and report.fetched == 5 and report.removed == 0 and report.pages == 1
    assert mirror.get("io.github.owner5/files-tools-5").server["description"] == "Now with replicas"  # type: ignore[union-attr]
    assert mirror.get("io.github.owner1/github-tools-1").version == "2.0.0"  # type: ignore[union-attr]
    assert mirror.get("io.github.owner2/postgres-tools-2") is None
    assert mirror.count() == COUNT - 1
    assert [i.name for i in mirror.search(["browser", "seven"])] == ["io.github.owner7/browser-tools-7"]


async def test_a_registry_that_refuses_or_ignores_updated_since_gets_a_full_pull(
    tmp_path: Path, standin: RegistryStandIn
) -> None:
    mirror = sqlite_mirror(tmp_path)
    with run_registry(standin) as url:
        await sync_mirror(mirror, RegistryClient(url))
        standin.since_mode = "refuse"
        standin.delete("io.github.owner3/slack-tools-3")  # a full pull drops what is not listed
        refused = await sync_mirror(mirror, RegistryClient(url))
        standin.since_mode = "ignore"
        ignored = await sync_mirror(mirror, RegistryClient(url))
    assert not refused.incremental and "refused" in refused.note and refused.removed == 1
    assert (
        not ignored.incremental and "ignored" in ignored.note and ignored.fetched == len(standin.entries) - 1
    )
    assert mirror.get("io.github.owner3/slack-tools-3") is None and mirror.count() == COUNT - 1
