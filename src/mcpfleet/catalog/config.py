"""``catalog:`` in the fleet file: the registry mirror and which registry servers the fleet offers.

    catalog:
      mirror: true                          # answer from the synced mirror once there is one
      allow: ["io.github.acme/*"]           # offer only these registry names (empty: all)
      deny: ["*-beta"]                      # never these (deny wins)

Patterns are globs (``*`` any run, ``?`` one character), without regard to case; see
:mod:`mcpfleet.catalog.curation`.
"""

from __future__ import annotations

from pydantic import Field

from mcpfleet.models import ConfigModel

__all__ = ["CatalogConfig"]


class CatalogConfig(ConfigModel):
    """The registry part of the catalog: ``mcpfleet catalog sync`` mirrors it into the fleet database;
    ``allow`` / ``deny`` are glob patterns on registry names (``io.github.acme/*``); deny wins."""

    mirror: bool = Field(True, description="answer from the synced mirror (offline) instead of the network")
    allow: list[str] = Field(default_factory=list, description="offer only these names (empty: all)")
    deny: list[str] = Field(default_factory=list, description="never offer these names")
