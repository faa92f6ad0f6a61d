"""A package's re-exports, each imported on first use.

Importing ``mcpfleet.audit.config`` runs ``mcpfleet/audit/__init__.py`` first; if that imported
the stores, every fleet file load would import SQLAlchemy. So a package whose light modules are
imported on their own (its config model) names its core types here instead::

    if TYPE_CHECKING:  # what mypy and readers see
        from mcpfleet.audit.logger import AuditLogger

    __all__ = ["AuditLogger"]
    __getattr__ = lazy_exports(__name__, {"mcpfleet.audit.logger": ["AuditLogger"]})

``from mcpfleet.audit import AuditLogger`` then imports ``mcpfleet.audit.logger`` at that moment.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, modules: Mapping[str, Iterable[str]]) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package``: each name of ``modules[m]`` comes from module ``m``."""
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    return __getattr__
