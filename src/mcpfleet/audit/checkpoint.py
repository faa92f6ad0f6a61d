"""Signed checkpoints: what pruning leaves behind so that ``audit verify`` stays meaningful.

Before the oldest records of a chain are deleted, the pruner writes one checkpoint for the
chain: the ``seq`` and ``hash`` of the last record it removes (the chain's new anchor), how
many records of the chain are gone (``seq + 1``: every chain starts at 0) and when. The
checkpoint is signed with HMAC-SHA256 under the fleet's *checkpoint key*, so moving an anchor
forward to hide deleted records, or inventing a checkpoint for a chain, needs the key.

The key is ``audit.checkpoint_key`` (a ``${VAR}`` or ``${file:/run/secrets/...}`` reference),
else ``<home>/audit-checkpoint.key``, created by the first prune (random, mode 0600). Gateways
on several hosts that prune one PostgreSQL store must share one key (``checkpoint_key``).

    key = load_key(config, create=True)
    mark = Checkpoint.sign("host-1-ab12", seq=41, hash="9f...", time=datetime.now(UTC), key=key)
    assert mark.problem(key) is None
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpfleet.audit.records import canonical, to_utc
from mcpfleet.exceptions import AuditError
from mcpfleet.home import FleetHome
from mcpfleet.secrets import load_env_file, resolve

if TYPE_CHECKING:
    from mcpfleet.config import FleetConfig

__all__ = ["KEY_FILE", "Checkpoint", "CheckpointKey", "key_file", "load_key"]

KEY_FILE = "audit-checkpoint.key"
_MIN_SECRET = 16  # characters of a configured key; a generated one has 64


@dataclass(frozen=True, slots=True)
class CheckpointKey:
    """The secret that signs checkpoints; ``key_id`` names it without revealing it."""

    secret: bytes = field(repr=False)
    source: str = "a configured key"

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"mcpfleet audit checkpoint key\n" + self.secret).hexdigest()[:16]

    def sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_secret(cls, text: str, source: str = "audit.checkpoint_key") -> CheckpointKey:
        text = text.strip()
        if len(text) < _MIN_SECRET:
            raise AuditError(
                f"{source} is {len(text)} characters long; use at least {_MIN_SECRET} random characters "
                "(e.g. the output of `openssl rand -hex 32`)"
            )
        return cls(text.encode(), source)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> CheckpointKey | None:
        """The key in ``path``; with ``create``, a new random one is written first if there is none
        (mode 0600, atomically: processes racing to create it all end up with the same key)."""
        if create and not path.exists():
            _create(path)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditError(f"cannot read the audit checkpoint key {path}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuditError(
                f"the audit checkpoint key {path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                f"run `chmod 600 {path}`"
            )
        return cls.from_secret(text, source=str(path))


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)  # fails if another process got there first: theirs is the key
    except FileExistsError:
        pass
    finally:
        draft.unlink()


def key_file(config: FleetConfig) -> Path:
    """Where the generated key lives: ``<home>/audit-checkpoint.key``."""
    return FleetHome.at(config.home_path()).root / KEY_FILE


def load_key(
    config: FleetConfig, environ: Mapping[str, str] | None = None, *, create: bool = False
) -> CheckpointKey | None:
    """The key ``config.audit`` names: ``checkpoint_key`` resolved (``${VAR}`` from ``environ``,
    default the process environment, then the fleet's ``.env``), else the key file in the home;
    ``None`` if there is none yet and ``create`` is off (verifying never creates a key)."""
    reference = config.audit.checkpoint_key
    if reference is None:
        return CheckpointKey.from_file(key_file(config), create=create)
    home = FleetHome.at(config.home_path()).root
    variables = {
        **load_env_file(config.env_file),
        **(os.environ if environ is None else environ),
        "MCPFLEET_HOME": str(home),
    }
    return CheckpointKey.from_secret(resolve(reference, variables, where="audit.checkpoint_key"))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The signed anchor of a chain whose records up to ``seq`` were pruned."""

    chain: str
    seq: int
    hash: str
    pruned: int
    time: datetime
    key_id: str
    signature: str

    @classmethod
    def sign(cls, chain: str, *, seq: int, hash: str, time: datetime, key: CheckpointKey) -> Checkpoint:
        draft = cls(chain, seq, hash, seq + 1, to_utc(time), key.key_id, "")
        return cls(chain, seq, hash, seq + 1, draft.time, key.key_id, key.sign(draft.payload()))

    def payload(self) -> str:
        """The exact text the signature covers."""
        body = {
            "chain": self.chain, "seq": self.seq, "hash": self.hash, "pruned": self.pruned,
            "time": self.time.isoformat(timespec="microseconds"), "key_id": self.key_id,
        }  # fmt: skip
        return "mcpfleet audit checkpoint v1\n" + canonical(body)

    def problem(self, key: CheckpointKey) -> str | None:
        """Why this checkpoint cannot be trusted under ``key``, or None if it can."""
        if self.key_id != key.key_id:
            return (
                f"it was signed with key id {self.key_id}, but the key in use ({key.source}) has id "
                f"{key.key_id}: use the key that signed it (audit.checkpoint_key), or it was forged"
            )
        if not hmac.compare_digest(key.sign(self.payload()), self.signature):
            return "its signature does not match its content: it was changed or forged"
        if self.pruned != self.seq + 1 or self.seq < 0:
            return f"it claims {self.pruned} pruned records up to seq {self.seq}: it was forged"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain, "seq": self.seq, "hash": self.hash, "pruned": self.pruned,
            "time": self.time.isoformat(timespec="microseconds"), "key_id": self.key_id,
            "signature": self.signature,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        """Raises :class:`ValueError` saying what is wrong."""
        if not isinstance(data, dict) or set(data) != set(cls.__dataclass_fields__):
            raise ValueError(f"a checkpoint has exactly the fields {', '.join(cls.__dataclass_fields__)}")
        values = dict(data)
        if not isinstance(values["time"], str):
            raise ValueError("time must be an ISO 8601 string")
        values["time"] = to_utc(datetime.fromisoformat(values["time"]))
        for name in ("seq", "pruned"):
            if not isinstance(values[name], int) or isinstance(values[name], bool):
                raise ValueError(f"{name} must be an integer")
        for name in ("chain", "hash", "key_id", "signature"):
            if not isinstance(values[name], str):
                raise ValueError(f"{name} must be a string")
        return cls(**values)
