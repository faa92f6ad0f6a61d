"""``--pin``: the exact version an unpinned npm or PyPI package has now, asked of the real registries."""

from __future__ import annotations

import pytest

from mcpfleet.config import NpmPackage, OciPackage, PypiPackage, ServerSpec
from mcpfleet.exceptions import PackageNotFoundError
from mcpfleet.install.pinning import current_version, is_pinned, pin_versions

# The versions tests/servers installs: the registries' current ones can only be as new or newer.
MEMORY_AT_LEAST = "2026.8.31"
TIME_AT_LEAST = "2026.10.19"


MEMORY = "@modelcontextprotocol/server-memory"


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:3])


def test_what_counts_as_pinned() -> None:
    for exact in ("1.2.3", "2026.10.19", "v1.0.0", "1.0.0-rc.1", "3", "1.0rc1", "2.1.post1"):
        assert is_pinned(exact), exact
    for loose in ("latest", "next", "^1.2.0", "~1.2", "1.x", "1.2.X", ">=1.0", "1.*", "1.2 - 1.4", ""):
        assert not is_pinned(loose), loose


@pytest.mark.slow
async def test_unpinned_packages_resolve_to_the_registries_current_versions() -> None:
    servers = {
        "memory": ServerSpec(package=NpmPackage(name=MEMORY)),
        "time": ServerSpec(package=PypiPackage(name="mcp-server-time", version="latest")),
        "older": ServerSpec(package=NpmPackage(name=MEMORY, version="~2025.9.0")),
        "held": ServerSpec(package=PypiPackage(name="mcp-server-time", version="2025.*")),
        "exact": ServerSpec(package=NpmPackage(name=MEMORY, version="2026.8.31")),
        "image": ServerSpec(package=OciPackage(image="mcp/time")),
    }
    versions = await pin_versions(servers)
    assert set(versions) == {"memory", "time", "older", "held"}  # pinned ones and images are left alone
    assert all(is_pinned(v) for v in versions.values()), versions
    assert release(versions["memory"]) >= release(MEMORY_AT_LEAST)
    assert release(versions["time"]) >= release(TIME_AT_LEAST)
    assert versions["older"].startswith("2025.9.")  # a range: its newest match, not the latest
    assert versions["held"].startswith("2025.")


@pytest.mark.slow
async def test_a_package_that_does_not_exist_says_so() -> None:
    with pytest.raises(PackageNotFoundError, match="npm has no @modelcontextprotocol/no-such-server-x9"):
        await current_version("ghost", NpmPackage(name="@modelcontextprotocol/no-such-server-x9"))
    with pytest.raises(PackageNotFoundError, match="PyPI has no mcp-server-no-such-thing-x9"):
        await current_version("ghost", PypiPackage(name="mcp-server-no-such-thing-x9"))
