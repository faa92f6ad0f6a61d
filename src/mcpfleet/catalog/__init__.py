"""What can be installed: a curated built-in catalog and the official MCP registry (``server.json``)."""

from __future__ import annotations

from mcpfleet.catalog.catalog import Catalog, CatalogEntry
from mcpfleet.catalog.registry import RegistryClient, ServerPage
from mcpfleet.catalog.schema import Argument, EnvironmentVariable, Package, Remote, ServerJson, Transport

__all__ = [
    "Argument",
    "Catalog",
    "CatalogEntry",
    "EnvironmentVariable",
    "Package",
    "RegistryClient",
    "Remote",
    "ServerJson",
    "ServerPage",
    "Transport",
]
