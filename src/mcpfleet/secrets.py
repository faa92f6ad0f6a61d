"""Resolving ``${VAR}`` references in server env and headers, and keeping secrets out of sight.

Supported forms, inside any env value or header:

- ``${VAR}``: from the process environment, then the fleet's ``.env`` file;
- ``${VAR:-default}``: the same, with a default when unset;
- ``${file:/path/to/secret}``: the content of a file (trailing newline stripped), as
  Docker and Kubernetes mount secrets;
- ``${user:NAME}``: the calling principal's own secret ``NAME`` (``mcpfleet secrets set
  --principal alice NAME``): in the headers of remote servers, filled in by the gateway per
  call (see :mod:`mcpfleet.security.user_secrets`), and in the env and args of stdio servers,
  which then run one process per principal (see :mod:`mcpfleet.percaller`);
- ``$$``: a literal ``$``.

The fleet also provides ``MCPFLEET_HOME`` and ``MCPFLEET_SERVER_DATA`` (the server's own
data folder).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from mcpfleet.exceptions import SecretError

__all__ = [
    "PER_CALLER_PLACES",
    "REDACTED",
    "is_secret_key",
    "load_env_file",
    "redact",
    "references",
    "resolve",
    "resolve_all",
    "url_without_password",
    "user_references",
]

REDACTED = "***"
USER_PREFIX = "user:"  # ${user:NAME}: a secret of the calling principal, resolved per call
PER_CALLER_PLACES = (
    "${user:NAME} (a secret of each caller) works in the headers of remote servers and in the env "
    "and args of stdio servers (one process per caller), nowhere else"
)
_REF = re.compile(r"\$\$|\$\{(?P<body>[^}]*)\}")
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|auth|credential|private[_-]?key|cookie)", re.I
)


def load_env_file(path: str | Path | None) -> dict[str, str]:
    """Read a ``.env`` file; a missing optional file is an empty mapping."""
    if path is None:
        return {}
    path = Path(path).expanduser()
    if not path.exists():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def references(value: str) -> list[str]:
    """Names a template refers to (``file:`` references included as ``file:<path>``)."""
    names = []
    for match in _REF.finditer(value):
        body = match.group("body")
        if body is not None and not body.startswith(USER_PREFIX):
            names.append(body.split(":-", 1)[0] if not body.startswith("file:") else body)
    return names


def user_references(value: str) -> list[str]:
    """The per-caller secrets (``${user:NAME}``) a template refers to."""
    if "${" + USER_PREFIX not in value:  # the gateway asks this on every call: most have none
        return []
    return [
        body[len(USER_PREFIX) :]
        for match in _REF.finditer(value)
        if (body := match.group("body")) is not None and body.startswith(USER_PREFIX)
    ]


def resolve(value: str, variables: Mapping[str, str], *, where: str, keep_user: bool = False) -> str:
    """Expand one template. ``where`` names it in errors (``servers.github.env.TOKEN``).

    ``keep_user`` leaves ``${user:NAME}`` as it is, for the gateway to fill in per caller;
    without it such a reference is an error."""

    def expand(match: re.Match[str]) -> str:
        body = match.group("body")
        if body is None:
            return "$"
        if body.startswith(USER_PREFIX):
            if keep_user:
                return match.group(0)
            raise SecretError(
                f"{where}: ${{{body}}} is a per-caller secret, filled in for each caller: only a "
                "remote server's headers and a stdio server's env and args can use it; use ${VAR} here"
            )
        if body.startswith("file:"):
            path = Path(body[5:]).expanduser()
            try:
                return path.read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise SecretError(
                    f"{where}: cannot read secret file {path} ({exc.strerror}); create it or fix the path"
                ) from None
        name, sep, default = body.partition(":-")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SecretError(
                f"{where}: ${{{body}}} is not a valid reference; use ${{NAME}} or ${{file:path}}"
            )
        if name in variables:
            return variables[name]
        if sep:
            return default
        raise SecretError(
            f"{where}: ${{{name}}} is not set; export it, add it to the fleet's .env file, "
            f"or write ${{{name}:-default}}"
        )

    return _REF.sub(expand, value)


def resolve_all(
    values: Mapping[str, str], variables: Mapping[str, str], *, where: str, keep_user: bool = False
) -> dict[str, str]:
    return {k: resolve(v, variables, where=f"{where}.{k}", keep_user=keep_user) for k, v in values.items()}


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def redact(values: Mapping[str, str], extra_secrets: Iterable[str] = ()) -> dict[str, str]:
    """A copy fit to print: templates stay (they hold no secret), literal values of secret-looking
    keys and of the keys in ``extra_secrets`` become ``***``."""
    extra = set(extra_secrets)
    out = {}
    for key, val in values.items():
        templated = bool(_REF.search(val)) and not _REF.sub("", val).strip()
        out[key] = val if templated or not (is_secret_key(key) or key in extra) else REDACTED
    return out


def url_without_password(url: str) -> str:
    """``url`` with its user and password taken out, for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
