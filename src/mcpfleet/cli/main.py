"""The ``mcpfleet`` command line: ``main()`` is the console script."""

from __future__ import annotations

from mcpfleet.cli import approvals, commands, health, serve, traffic, update
from mcpfleet.cli.app import app, err, print_error
from mcpfleet.cli.audit import audit_app
from mcpfleet.cli.backup import backup_app
from mcpfleet.cli.catalog import catalog_app
from mcpfleet.cli.config_cmd import config_app
from mcpfleet.cli.db import db_app
from mcpfleet.cli.deploy import deploy_app
from mcpfleet.cli.keys import keys_app
from mcpfleet.cli.secrets import secrets_app
from mcpfleet.cli.tools import tools_app
from mcpfleet.exceptions import FleetError

__all__ = ["app", "main"]

app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(tools_app, name="tools")
app.add_typer(secrets_app, name="secrets")
app.add_typer(audit_app, name="audit")
app.add_typer(backup_app, name="backup")
app.add_typer(deploy_app, name="deploy")
app.add_typer(catalog_app, name="catalog")
app.add_typer(db_app, name="db")
COMMAND_MODULES = (
    approvals,
    commands,
    health,
    serve,
    traffic,
    update,
)  # importing them registers their commands on `app`


def main() -> None:
    """The console script: a user's mistake is one line on stderr and exit 1, never a traceback."""
    try:
        app()
    except FleetError as exc:
        print_error(exc)
        raise SystemExit(1) from None
    except OSError as exc:  # a file or folder that is not there, or not ours to read or write
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(f"[red]error:[/] {exc.strerror or exc}{where}; check the path and its permissions")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
