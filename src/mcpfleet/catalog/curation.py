"""Which registry servers a fleet offers: ``catalog.allow`` and ``catalog.deny`` in the fleet file.

    catalog:
      allow: ["io.github.acme/*", "io.modelcontextprotocol/*"]   # empty: every name
      deny: ["*-beta"]                                             # wins over allow

Patterns are globs on the registry name, compared without regard to case: ``*`` is any run of
characters (``/`` included), ``?`` one character; nothing else is special. The same rule runs in
Python (:meth:`Curation.allows`) and in SQL (:meth:`Curation.where`), so a page served from the
mirror has as many entries as it says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, true

__all__ = ["Curation"]


def _like(pattern: str) -> str:
    """A glob as a SQL LIKE pattern with ``\\`` as the escape character."""
    escaped = pattern.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())


@dataclass(frozen=True)
class Curation:
    """Glob ``allow`` and ``deny`` lists; no lists allows everything."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @classmethod
    def of(cls, allow: Sequence[str] = (), deny: Sequence[str] = ()) -> Curation:
        return cls(tuple(p for p in allow if p), tuple(p for p in deny if p))

    @cached_property
    def _allowed(self) -> re.Pattern[str] | None:
        return re.compile("|".join(f"(?:{_regex(p)})" for p in self.allow)) if self.allow else None

    @cached_property
    def _denied(self) -> re.Pattern[str] | None:
        return re.compile("|".join(f"(?:{_regex(p)})" for p in self.deny)) if self.deny else None

    def allows(self, name: str) -> bool:
        """Whether the registry name ``name`` is offered."""
        lowered = name.lower()
        if self._denied is not None and self._denied.fullmatch(lowered):
            return False
        return self._allowed is None or self._allowed.fullmatch(lowered) is not None

    def where(self, column: ColumnElement[str]) -> ColumnElement[bool]:
        """The same rule as a SQL condition on ``column`` (a registry name)."""
        name = func.lower(column)
        allowed = (
            or_(false(), *(name.like(_like(p), escape="\\") for p in self.allow)) if self.allow else true()
        )
        if not self.deny:
            return allowed
        return and_(allowed, not_(or_(*(name.like(_like(p), escape="\\") for p in self.deny))))

    def __bool__(self) -> bool:
        return bool(self.allow or self.deny)
