"""What can be installed: a curated built-in catalog and the official MCP registry (``server.json``),
the registry mirrored into the fleet database for offline use (``mcpfleet catalog sync``).

The fleet file's ``catalog:`` model (:mod:`mcpfleet.catalog.config`) is imported on its own by
:mod:`mcpfleet.config`, so the names below are imported on first use (:mod:`mcpfleet.exports`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpfleet.exports import lazy_exports

if TYPE_CHECKING:
    from mcpfleet.catalog.catalog import Catalog, CatalogEntry
    from mcpfleet.catalog.config import CatalogConfig
    from mcpfleet.catalog.curation import Curation
    from mcpfleet.catalog.mirror import RegistryMirror
    from mcpfleet.catalog.registry import RegistryClient, ServerPage
    from mcpfleet.catalog.schema import Argument, EnvironmentVariable, Package, Remote, ServerJson, Transport
    from mcpfleet.catalog.sync import SyncReport, sync_mirror

__all__ = [
    "Argument",
    "Catalog",
    "CatalogConfig",
    "CatalogEntry",
    "Curation",
    "EnvironmentVariable",
    "Package",
    "RegistryClient",
    "RegistryMirror",
    "Remote",
    "ServerJson",
    "ServerPage",
    "SyncReport",
    "Transport",
    "sync_mirror",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "mcpfleet.catalog.catalog": ["Catalog", "CatalogEntry"],
        "mcpfleet.catalog.config": ["CatalogConfig"],
        "mcpfleet.catalog.curation": ["Curation"],
        "mcpfleet.catalog.mirror": ["RegistryMirror"],
        "mcpfleet.catalog.registry": ["RegistryClient", "ServerPage"],
        "mcpfleet.catalog.schema": [
            "Argument",
            "EnvironmentVariable",
            "Package",
            "Remote",
            "ServerJson",
            "Transport",
        ],
        "mcpfleet.catalog.sync": ["SyncReport", "sync_mirror"],
    },
)
