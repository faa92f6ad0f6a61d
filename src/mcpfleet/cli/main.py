"""The ``mcpfleet`` command line: ``main()`` is the console script."""

from __future__ import annotations

from mcpfleet.cli import approvals, commands, health, serve, traffic, update
from mcpfleet.cli.app import app
from mcpfleet.cli.audit import audit_app
from mcpfleet.cli.backup import backup_app
from mcpfleet.cli.config_cmd import config_app
from mcpfleet.cli.deploy import deploy_app
from mcpfleet.cli.keys import keys_app

__all__ = ["app", "main"]

app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(backup_app, name="backup")
app.add_typer(deploy_app, name="deploy")
COMMAND_MODULES = (
    approvals,
    commands,
    health,
    serve,
    traffic,
    update,
)  # importing them registers their commands on `app`


def main() -> None:
    app()


if __name__ == "__main__":
    main()
