"""Reading the pieces of a fleet for a backup: its config without secrets, and its databases.

SQLite files are copied with SQLite's online backup API, so a copy taken while a writer runs is a
consistent snapshot; a PostgreSQL fleet database is dumped with ``pg_dump``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from mcpfleet.config import FleetConfig, ServerSpec, dump_config, parse_config
from mcpfleet.exceptions import BackupError, ConfigError
from mcpfleet.secrets import REDACTED, redact, references

__all__ = [
    "SQLITE_HEADER",
    "config_bytes",
    "copy_sqlite",
    "find_pg_dump",
    "is_sqlite",
    "pg_dump",
    "redact_config",
    "redact_server_configs",
]

SQLITE_HEADER = b"SQLite format 3\x00"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _redacted_values(values: Mapping[str, str], where: str, found: list[str]) -> dict[str, str]:
    out = redact(values)
    found += [f"{where}.{key}" for key in values if out[key] != values[key]]
    return out


def _redacted_url(url: str | None, where: str, found: list[str]) -> str | None:
    if url is None:
        return None
    parsed = make_url(url)
    if parsed.password is None or references(str(parsed.password)):
        return url
    found.append(f"{where} (password)")
    return parsed.set(password=REDACTED).render_as_string(hide_password=False)


def _redacted_spec(name: str, spec: ServerSpec, found: list[str]) -> ServerSpec:
    env = _redacted_values(spec.env, f"servers.{name}.env", found)
    headers = _redacted_values(spec.headers, f"servers.{name}.headers", found)
    return spec.model_copy(update={"env": env, "headers": headers})


def redact_config(config: FleetConfig) -> tuple[FleetConfig, list[str]]:
    """A copy with literal secret values (env, headers, URL passwords) replaced by ``***``, and
    the paths of what was replaced. ``${VAR}`` references are kept: they hold no secret."""
    found: list[str] = []
    servers = {name: _redacted_spec(name, spec, found) for name, spec in config.servers.items()}
    tracing = config.tracing.model_copy(
        update={"headers": _redacted_values(config.tracing.headers, "tracing.headers", found)}
    )
    audit = config.audit.model_copy(update={"url": _redacted_url(config.audit.url, "audit.url", found)})
    copy = config.model_copy(
        update={
            "servers": servers,
            "tracing": tracing,
            "audit": audit,
            "database_url": _redacted_url(config.database_url, "database_url", found),
        }
    )
    return copy, found


def config_bytes(text: str | None, config: FleetConfig, include_secrets: bool) -> tuple[bytes, list[str]]:
    """The fleet file for the archive: its own bytes when it holds no literal secret (or they are
    wanted), else the parsed file with those values redacted. ``text`` None: dump ``config``."""
    parsed = config if text is None else parse_config(text)
    if include_secrets:
        return (text if text is not None else dump_config(parsed)).encode(), []
    redacted, found = redact_config(parsed)
    if found or text is None:
        return dump_config(redacted).encode(), found
    return text.encode(), []


def redact_server_configs(
    configs: Mapping[str, Mapping[str, Any]], include_secrets: bool
) -> tuple[bytes, list[str]]:
    """``{server: config}`` (as ``MCPManager.get_all_configs`` returns) as JSON, secrets redacted."""
    found: list[str] = []
    out: dict[str, Any] = {}
    for name, raw in configs.items():
        try:
            spec = ServerSpec.model_validate(dict(raw))
        except ValueError as exc:
            raise ConfigError(f"servers.{name} is not a valid server config: {exc}") from None
        if not include_secrets:
            spec = _redacted_spec(name, spec, found)
        out[name] = spec.model_dump(mode="json")
    return json.dumps(out, indent=2).encode(), found


def is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def copy_sqlite(source: Path, dest: Path, timeout: float = 30.0) -> None:
    """A consistent copy of a live SQLite database (the online backup API: committed data only)."""
    if not source.is_file():
        raise BackupError(f"SQLite database {source} does not exist")
    try:
        src = sqlite3.connect(str(source), timeout=timeout)
        try:
            dst = sqlite3.connect(str(dest))
            try:
                src.backup(dst)  # one step: a snapshot under one read transaction
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(
            f"cannot copy the SQLite database {source}: {exc}; check it with "
            f"`sqlite3 {source} 'PRAGMA integrity_check'` and retry"
        ) from None


def find_pg_dump() -> str | None:
    """``pg_dump`` on PATH, else the newest under /usr/lib/postgresql/*/bin (Debian's layout)."""
    found = shutil.which("pg_dump")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)
    return str(candidates[0]) if candidates else None


def pg_dump(url: str, dest: Path, timeout: float = 600.0) -> None:
    """Dump a PostgreSQL database as plain SQL (load it back with ``psql -f``).

    The password goes through ``PGPASSWORD``, never the command line (where ``ps`` shows it).
    """
    exe = find_pg_dump()
    if exe is None:
        raise BackupError(
            "pg_dump was not found (PATH, /usr/lib/postgresql/*/bin): install the PostgreSQL client "
            "(e.g. apt-get install postgresql-client) to back up a PostgreSQL fleet database"
        )
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    target = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    command = [exe, "--no-owner", "--no-privileges", "--file", str(dest), "--dbname", target]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise BackupError(f"pg_dump did not finish within {timeout:g} s; is the database up?") from None
    if done.returncode != 0:
        raise BackupError(
            f"pg_dump of {parsed.render_as_string(hide_password=True)} failed ({done.returncode}): "
            f"{done.stderr.strip()[-500:]}"
        )
