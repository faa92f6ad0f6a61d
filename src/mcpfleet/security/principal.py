"""Who made a request, once authenticated: the value access control decides on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["AuthMethod", "Principal"]

AuthMethod = Literal["api_key", "jwt", "anonymous"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``name`` is the API key's name or the token's subject; ``roles`` are the role names access
    control knows (``access.roles`` in the fleet file); ``scopes`` are the OAuth scopes a token
    carried; ``key_id`` is the id of the API key used, if any; ``expires_at`` is when the
    credential stops being valid (``None``: never, or not known); ``token`` is the JWT it presented.

        >>> Principal("ci-bot", ("developer",), "api_key").has_role("developer")
        True
    """

    name: str
    roles: tuple[str, ...]
    method: AuthMethod
    scopes: tuple[str, ...] = ()
    key_id: str | None = None
    expires_at: datetime | None = None
    # The JWT the caller presented, for an RFC 8693 exchange (never printed, never compared).
    token: str | None = field(default=None, repr=False, compare=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @classmethod
    def anonymous(cls, role: str | None = None) -> Principal:
        """The caller of a fleet that runs without authentication (``auth: none``)."""
        return cls("anonymous", (role,) if role else (), "anonymous")
