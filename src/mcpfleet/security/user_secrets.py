"""Per-principal secrets, encrypted at rest in the fleet database.

A remote server's headers may name a secret of the caller: ``Authorization: "Bearer
${user:github_token}"``. Each principal (an API key's name, a token's subject) has its own
value, set by an operator:

    $ export MCPFLEET_SECRET_KEY=$(mcpfleet secrets keygen)     # or MCPFLEET_SECRET_KEY_FILE=path
    $ mcpfleet secrets set --principal alice github_token       # the value from a prompt or stdin
    $ mcpfleet secrets list [--principal alice]
    $ mcpfleet secrets delete --principal alice github_token

Values are sealed with AES-256-GCM under the key from ``MCPFLEET_SECRET_KEY`` (32 bytes,
URL-safe base64) or the file ``MCPFLEET_SECRET_KEY_FILE`` names; the principal and the secret's
name are the associated data, so a value copied to another principal's row does not decrypt.
The key never goes in the database: whoever has a copy of the database and not the key reads
nothing.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, ColumnElement, DateTime, String, Table, Text, and_, delete, insert, select

from mcpfleet.database import Database, metadata
from mcpfleet.exceptions import SecretError

__all__ = ["SecretKey", "UserSecret", "UserSecretStore", "generate_key"]

KEY_ENV, KEY_FILE_ENV = "MCPFLEET_SECRET_KEY", "MCPFLEET_SECRET_KEY_FILE"
_NONCE = 12

user_secrets = Table(
    "user_secrets",
    metadata,
    Column("principal", String(256), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("sealed", Text, nullable=False),  # base64(nonce + AES-GCM ciphertext and tag)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def generate_key() -> str:
    """A new key, as ``MCPFLEET_SECRET_KEY`` takes it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


class SecretKey:
    """The key that seals per-principal secrets."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretError(
                f"the per-user secret key must be 32 bytes (URL-safe base64), not {len(key)}; "
                "make one with `mcpfleet secrets keygen`"
            )
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretKey(***)"

    @classmethod
    def from_text(cls, text: str, *, source: str) -> SecretKey:
        try:
            return cls(base64.urlsafe_b64decode(text.strip().encode()))
        except (binascii.Error, ValueError):
            raise SecretError(
                f"{source} is not a URL-safe base64 key; make one with `mcpfleet secrets keygen`"
            ) from None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SecretKey:
        """The key from ``MCPFLEET_SECRET_KEY``, else the file ``MCPFLEET_SECRET_KEY_FILE`` names."""
        environ = os.environ if environ is None else environ
        if environ.get(KEY_ENV):
            return cls.from_text(environ[KEY_ENV], source=KEY_ENV)
        path = environ.get(KEY_FILE_ENV)
        if path:
            try:
                text = Path(path).expanduser().read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretError(
                    f"cannot read the per-user secret key file {path} ({exc.strerror}); "
                    f"fix {KEY_FILE_ENV} or write a key there with `mcpfleet secrets keygen > {path}`"
                ) from None
            return cls.from_text(text, source=f"the key file {path}")
        raise SecretError(
            f"no key for per-user secrets: set {KEY_ENV} (make one with `mcpfleet secrets keygen`) "
            f"or {KEY_FILE_ENV} to a file that holds one, in the environment of mcpfleet"
        )

    def seal(self, principal: str, name: str, value: str) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, value.encode(), _associated(principal, name))
        return base64.b64encode(nonce + sealed).decode()

    def open(self, principal: str, name: str, sealed: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], _associated(principal, name)).decode()
        except InvalidTag:
            raise SecretError(
                f"the secret {name!r} of {principal!r} does not decrypt with this key: it was set with "
                f"another {KEY_ENV}; set the key it was sealed with, or set the secret again"
            ) from None


def _associated(principal: str, name: str) -> bytes:
    return f"mcpfleet-user-secret\0{principal}\0{name}".encode()


@dataclass(frozen=True)
class UserSecret:
    """A secret's listing: never its value."""

    principal: str
    name: str
    updated_at: datetime


class UserSecretStore:
    """Per-principal secrets in the fleet database (table ``user_secrets``), sealed with ``key``."""

    def __init__(self, database: Database, key: SecretKey | None = None) -> None:
        self.database = database
        self._key = key
        database.create_tables()

    @property
    def key(self) -> SecretKey:
        if self._key is None:
            self._key = SecretKey.from_environ()
        return self._key

    def set(self, principal: str, name: str, value: str) -> None:
        if not principal or not name:
            raise SecretError("a per-user secret needs a principal and a name")
        sealed = self.key.seal(principal, name, value)
        with self.database.engine.begin() as conn:
            conn.execute(delete(user_secrets).where(_row(principal, name)))
            conn.execute(
                insert(user_secrets).values(
                    principal=principal, name=name, sealed=sealed, updated_at=datetime.now(UTC)
                )
            )

    def get(self, principal: str, name: str) -> str | None:
        with self.database.engine.connect() as conn:
            row = conn.execute(select(user_secrets.c.sealed).where(_row(principal, name))).first()
        return None if row is None else self.key.open(principal, name, row[0])

    def list(self, principal: str | None = None) -> list[UserSecret]:
        query = select(user_secrets.c.principal, user_secrets.c.name, user_secrets.c.updated_at).order_by(
            user_secrets.c.principal, user_secrets.c.name
        )
        if principal is not None:
            query = query.where(user_secrets.c.principal == principal)
        with self.database.engine.connect() as conn:
            return [UserSecret(p, n, at) for p, n, at in conn.execute(query)]

    def delete(self, principal: str, name: str) -> bool:
        with self.database.engine.begin() as conn:
            return conn.execute(delete(user_secrets).where(_row(principal, name))).rowcount > 0


def _row(principal: str, name: str) -> ColumnElement[bool]:
    return and_(user_secrets.c.principal == principal, user_secrets.c.name == name)
