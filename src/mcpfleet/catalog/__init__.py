"""What can be installed: a curated built-in catalog and the official MCP registry."""

from __future__ import annotations

from mcpfleet.catalog.catalog import Catalog, CatalogEntry
from mcpfleet.catalog.registry import RegistryClient
from mcpfleet.catalog.schema import Package, Remote, ServerJson

__all__ = ["Catalog", "CatalogEntry", "Package", "RegistryClient", "Remote", "ServerJson"]
