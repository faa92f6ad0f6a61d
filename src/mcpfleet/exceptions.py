"""Every error a user of mcpfleet can meet, under one root.

Each message says what happened and what to do about it.

    FleetError
    ├── ConfigError .................. the fleet file is invalid (every problem, with its path)
    │   └── SecretError .............. a ${VAR}, .env entry or secret file is missing
    ├── UnknownServerError ........... a name that is neither in the fleet nor the catalog
    ├── UnknownApiKeyError ........... no API key has that name or id (`mcpfleet keys list`)
    ├── AuthenticationError .......... no credentials, or ones that are not valid (HTTP 401)
    ├── PermissionDeniedError ........ authenticated, but no role of the caller allows it (HTTP 403)
    ├── CatalogError ................. a catalog entry cannot be used as asked
    │   └── RegistryError ............ the MCP registry could not be reached or answered badly
    ├── InstallError ................. a package could not be installed
    │   ├── PackageNotFoundError ..... the registry has no such package or version
    │   ├── MissingEnvError .......... required environment variables are not set
    │   └── ToolchainMissingError .... npm, uv or a container engine is not available
    ├── ServerError .................. a server misbehaved or is not there to answer
    │   ├── ServerStartError ......... the process exited at once (its stderr tail is attached)
    │   ├── HandshakeTimeoutError .... it started but never completed the MCP handshake
    │   ├── ProtocolError ............ it wrote something that is not MCP (garbage on stdout)
    │   ├── ConnectionClosedError .... the connection died while a request was in flight
    │   │   └── CallInterruptedError . ... and the call was not safe to repeat elsewhere
    │   ├── ServerUnavailableError ... no instance can take it (stopped, failed, maintenance); not sent
    │   └── RequestTimeoutError ...... a request got no answer in time
    ├── ToolCallError ................ the server answered a request with a JSON-RPC error
    ├── RateLimitedError ............. a rate limit refused a call; retry after ``retry_after`` seconds
    ├── ScalingError ................. a server's instance count could not be changed as asked
    ├── RolloutError ................. a rolling update stopped; ``result`` says where and what runs now
    ├── AuditError ................... the audit log cannot be used as asked (closed, misconfigured)
    │   └── AuditStoreError .......... the audit store could not be read or written (down, bad file)
    ├── BackupError .................. a backup could not be made, read or restored
    │   ├── BackupNotFoundError ...... no backup with that id in the backup folder
    │   ├── BackupCorruptError ....... a checksum does not match, or the archive is truncated
    │   ├── ForeignArchiveError ...... the file is not an mcpfleet backup (another tar, a zip, ...)
    │   └── UnsafeArchiveError ....... an entry would land outside the target (.., /abs, links, devices)
    └── DeployError .................. the fleet cannot be rendered or deployed as asked
        ├── EngineMissingError ....... no Docker Compose compatible engine is installed and running
        └── KubernetesError .......... the Kubernetes API refused, failed, or cannot be reached
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "STDERR_MARKER",
    "AuditError",
    "AuditStoreError",
    "AuthenticationError",
    "BackupCorruptError",
    "BackupError",
    "BackupNotFoundError",
    "CallInterruptedError",
    "CatalogError",
    "ConfigError",
    "ConnectionClosedError",
    "DatabaseMigrationError",
    "DeployError",
    "EngineMissingError",
    "FleetError",
    "ForeignArchiveError",
    "HandshakeTimeoutError",
    "InstallError",
    "KubernetesError",
    "MissingEnvError",
    "PackageNotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "RegistryError",
    "RequestTimeoutError",
    "RolloutError",
    "ScalingError",
    "SecretError",
    "ServerError",
    "ServerStartError",
    "ServerUnavailableError",
    "ToolCallError",
    "ToolchainMissingError",
    "UnknownApiKeyError",
    "UnknownServerError",
    "UnsafeArchiveError",
    "public_message",
]


STDERR_MARKER = "\n--- last lines of its stderr ---\n"  # what follows is for operators only


def public_message(exc: BaseException) -> str:
    """An error's message as a client may see it: without the server's stderr, which can hold
    anything the server printed (connection strings, tokens); operators find it in the logs."""
    return str(exc).split(STDERR_MARKER, 1)[0]


class FleetError(Exception):
    """Root of every mcpfleet error."""


class ConfigError(FleetError):
    """The fleet configuration is invalid.

    ``problems`` holds one line per problem, each starting with its path in the file
    (``servers.fs.package.type: ...``), so every mistake is reported at once.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        text = message if not self.problems else message + "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class SecretError(ConfigError):
    """A ``${VAR}`` reference, ``.env`` entry or secret file could not be resolved."""


class DatabaseMigrationError(FleetError):
    """The fleet database could not be brought to this release's schema; it was left as it was."""


class UnknownServerError(FleetError):
    """A server name that is not known; suggests the closest known names."""

    def __init__(self, name: str, known: Sequence[str] = (), where: str = "the fleet") -> None:
        import difflib

        self.name = name
        self.suggestions = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        listing = f" Known: {', '.join(sorted(known)[:20])}." if known and not self.suggestions else ""
        super().__init__(f"No server named {name!r} in {where}.{hint}{listing}")


class UnknownApiKeyError(FleetError):
    """No API key has the given name or id."""

    def __init__(self, name_or_id: str) -> None:
        self.name_or_id = name_or_id
        super().__init__(
            f"No active API key named or with id {name_or_id!r}; `mcpfleet keys list` shows the keys"
        )


class AuthenticationError(FleetError):
    """A request carried no credentials, or ones that are not valid (expired, revoked, forged).

    ``token_given`` tells a 401 response whether to add ``error="invalid_token"`` to its
    ``WWW-Authenticate`` header (RFC 6750): a client that sent nothing is only told how to
    authenticate.
    """

    def __init__(self, message: str, *, token_given: bool = True) -> None:
        self.token_given = token_given
        super().__init__(message)


class PermissionDeniedError(FleetError):
    """The caller is authenticated, but none of its roles allows what it asked for."""

    error_type = "permission_denied"  # how metrics and traces name it
    code = -32003  # the JSON-RPC error code the gateway answers with (implementation-defined range)


class CatalogError(FleetError):
    """A catalog entry cannot be used as asked."""


class RegistryError(CatalogError):
    """The MCP registry could not be reached or answered with something unexpected."""


class InstallError(FleetError):
    """A server package could not be installed."""

    def __init__(self, server: str, message: str) -> None:
        self.server = server
        super().__init__(f"Installing {server!r} failed: {message}")


class PackageNotFoundError(InstallError):
    """The package registry has no such package or version."""


class MissingEnvError(InstallError):
    """Environment variables the server requires are not set."""

    def __init__(self, server: str, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        names = ", ".join(self.missing)
        super().__init__(
            server,
            f"it needs {names}. Set them in the server's env in mcpfleet.yaml "
            f"(e.g. {self.missing[0]}: ${{{self.missing[0]}}}) or in the fleet's .env file.",
        )


class ToolchainMissingError(InstallError):
    """A tool the installer needs (npm, uv, docker) is not available."""


class ServerError(FleetError):
    """A server misbehaved or is not there to answer."""

    def __init__(self, server: str, message: str) -> None:
        self.server = server
        super().__init__(f"{server}: {message}")


class ServerStartError(ServerError):
    """The server process exited during start; ``stderr_tail`` holds its last words."""

    def __init__(self, server: str, message: str, stderr_tail: str = "") -> None:
        self.stderr_tail = stderr_tail
        tail = f"{STDERR_MARKER}{stderr_tail.rstrip()}" if stderr_tail.strip() else ""
        super().__init__(server, message + tail)


class HandshakeTimeoutError(ServerError):
    """The server started but never completed the MCP handshake."""


class ProtocolError(ServerError):
    """The server wrote something that is not MCP JSON-RPC."""


class ConnectionClosedError(ServerError):
    """The connection closed while requests were in flight; they may or may not have run."""


class ServerUnavailableError(ServerError):
    """No instance of the server is ready to take a call; a request that raises it was not sent."""


class CallInterruptedError(ConnectionClosedError):
    """An instance failed mid-call and the call was not safe to repeat: it may or may not have run."""


class RequestTimeoutError(ServerError):
    """A request got no answer within its timeout."""


class ToolCallError(FleetError):
    """The server answered with a JSON-RPC error object."""

    def __init__(self, server: str, method: str, code: int, message: str, data: Any = None) -> None:
        self.server = server
        self.method = method
        self.code = code
        self.error_message = message
        self.data = data
        super().__init__(f"{server}: {method} failed with JSON-RPC error {code}: {message}")


class RateLimitedError(FleetError):
    """A rate limit refused a call before it was sent; it would pass after ``retry_after`` seconds.

    ``scope`` names the bucket that refused (``principal 'alice'``, ``server 'github'``).
    """

    error_type = "rate_limited"  # how metrics and traces name it
    code = -32029  # the JSON-RPC error code the gateway answers with (implementation-defined range)

    def __init__(self, retry_after: float, scope: str = "this caller", limit: str = "") -> None:
        self.retry_after = retry_after
        self.scope = scope
        self.limit = limit
        of = f" ({limit})" if limit else ""
        super().__init__(
            f"Rate limit of {scope}{of} reached: the call was not sent. Retry in {retry_after:.2f} s."
        )

    def http_headers(self) -> dict[str, str]:
        """``{"Retry-After": "2"}``: whole seconds, rounded up, at least 1 (RFC 9110)."""
        return {"Retry-After": str(max(1, math.ceil(round(self.retry_after, 3))))}

    def rpc_data(self) -> dict[str, float]:
        """The JSON-RPC error's ``data``: ``{"retry_after": 1.25}`` in seconds, to the millisecond."""
        return {"retry_after": max(0.001, round(self.retry_after, 3))}


class ScalingError(FleetError):
    """A server's instance count could not be changed as asked (a bad count, a backend that refused)."""


class RolloutError(FleetError):
    """A rolling update stopped before every instance ran the new version.

    ``result`` is the :class:`~mcpfleet.rollout.RolloutResult`: each instance's outcome, timings,
    the reason, and the version the fleet runs now. The message says all of that in short.
    """

    def __init__(self, message: str, result: Any = None) -> None:
        self.result = result
        super().__init__(message)


class AuditError(FleetError):
    """The audit log cannot be used as asked: it is closed, or its configuration is incomplete."""


class AuditStoreError(AuditError):
    """The audit store could not be read or written: the database is down or a file is unreadable."""


class BackupError(FleetError):
    """A backup could not be made, read or restored; the message says which and what to do."""


class BackupNotFoundError(BackupError):
    """No backup with the given id (or at the given path) exists."""

    def __init__(self, backup_id: str, where: str) -> None:
        self.backup_id = backup_id
        super().__init__(
            f"No backup {backup_id!r} in {where}; `mcpfleet backup list` shows the backups there "
            "(pass --dir for another folder, or the archive's path)"
        )


class BackupCorruptError(BackupError):
    """The archive is damaged: truncated, unreadable, or a file's SHA-256 differs from its manifest."""


class ForeignArchiveError(BackupError):
    """The file is not an mcpfleet backup (another tar or zip, or a newer format)."""


class UnsafeArchiveError(BackupError):
    """An entry would be written outside the target folder, or is a link or a device: refused."""


class DeployError(FleetError):
    """The fleet cannot be rendered for containers, or a deployment failed; the message says why."""


class EngineMissingError(DeployError):
    """No container engine with Compose support is installed and running on this machine."""


class KubernetesError(DeployError):
    """A Kubernetes API call failed: no kubeconfig, the cluster is unreachable, or it refused."""
