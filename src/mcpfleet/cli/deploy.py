"""``mcpfleet deploy``: the fleet in containers, with Compose or on Kubernetes.

mcpfleet deploy compose [--out DIR] [--up]
mcpfleet deploy k8s render [--out DIR] [--namespace NS] [--image IMAGE]
mcpfleet deploy k8s apply [--namespace NS] [--force]
mcpfleet deploy k8s scale SERVER N
mcpfleet deploy k8s status
mcpfleet deploy swarm render [--out DIR] [--secrets external|file] [--gateway-replicas N]
mcpfleet deploy swarm apply [--out DIR] [--name STACK]
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mcpfleet.cli.app import console, err, fleet_command, state_of

DEFAULT_IMAGE = "mcpfleet:latest"  # mcpfleet.deploy.plan.DEFAULT_IMAGE, without importing the deploy package


__all__ = ["deploy_app"]

deploy_app = typer.Typer(
    no_args_is_help=True, help="Deploy the fleet into containers: a Compose project or Kubernetes."
)
k8s_app = typer.Typer(no_args_is_help=True, help="Render, apply, scale and inspect the fleet on Kubernetes.")
deploy_app.add_typer(k8s_app, name="k8s")
swarm_app = typer.Typer(no_args_is_help=True, help="Render the fleet as a Docker Swarm stack and deploy it.")
deploy_app.add_typer(swarm_app, name="swarm")


class ComposeNetwork(StrEnum):
    host = "host"
    bridge = "bridge"


class SwarmSecrets(StrEnum):
    external = "external"
    file = "file"


Image = Annotated[str, typer.Option("--image", help="the mcpfleet image every container runs")]
Namespace = Annotated[str, typer.Option("--namespace", "-n", help="Kubernetes namespace")]
Context = Annotated[str | None, typer.Option("--context", help="kubeconfig context (default: current)")]


def _warn_missing(missing: Sequence[str], where: str) -> None:
    if missing:
        err.print(
            f"[yellow]warning:[/] not set here, so not in {where}: {', '.join(missing)}. "
            "Add them there before the containers start (they fail naming the variable otherwise).",
            highlight=False,
        )


@deploy_app.command("compose")
@fleet_command
async def compose(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="folder for compose.yaml, .env and fleet/")] = Path(
        "deploy/compose"
    ),
    up: Annotated[bool, typer.Option("--up", help="then bring it up and wait until ready")] = False,
    image: Image = DEFAULT_IMAGE,
    network: Annotated[
        ComposeNetwork,
        typer.Option(help="host: every container on the host network; bridge: a Compose network"),
    ] = ComposeNetwork.host,
    port: Annotated[int | None, typer.Option(help="gateway port (default from config)")] = None,
    base_port: Annotated[
        int | None, typer.Option(help="first server port (default gateway port + 1)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds --up waits for /readyz")] = 300.0,
) -> None:
    """Write a Compose project for the fleet: the gateway and one service per server."""
    from mcpfleet.deploy.compose import compose_up, render_compose

    manager = state_of(ctx).manager()
    files = render_compose(
        manager.config, out, image=image, network=network.value, environ=manager.environ,
        gateway_port=port, base_port=base_port,
    )  # fmt: skip
    console.print(
        f"Wrote {files.compose_file}, {files.env_file} (secrets, mode 0600) and {files.config_dir}/"
    )
    _warn_missing(files.missing, str(files.env_file))
    if up:
        url = await compose_up(files.compose_file, files.env_file, timeout=timeout)
        console.print(f"The fleet is up and ready: {url}/mcp")
    else:
        console.print(f"Start it: docker compose --env-file {files.env_file} -f {files.compose_file} up -d")


def _manifests(ctx: typer.Context, namespace: str, image: str, **options: Any) -> list[dict[str, Any]]:
    from mcpfleet.deploy.kubernetes import render_manifests

    manager = state_of(ctx).manager()
    return render_manifests(
        manager.config, namespace=namespace, image=image, environ=manager.environ, **options
    )


@k8s_app.command("render")
@fleet_command
async def k8s_render(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="folder for the manifests")] = Path("deploy/k8s"),
    namespace: Namespace = "default",
    image: Image = DEFAULT_IMAGE,
    host_network: Annotated[
        bool, typer.Option(help="pods on their node's network (single-machine runs, podman kube play)")
    ] = False,
    bind: Annotated[str | None, typer.Option(help="address containers listen on (default 0.0.0.0)")] = None,
) -> None:
    """Write the fleet's manifests: Deployments, Services, HPA, PDB, ConfigMap, Secret."""
    from mcpfleet.deploy.kubernetes import missing_secrets, write_manifests

    manifests = _manifests(ctx, namespace, image, host_network=host_network, bind=bind)
    paths = write_manifests(manifests, out)
    console.print(f"Wrote {len(paths)} manifests to {out}/ (apply: kubectl apply --server-side -f {out})")
    _warn_missing(missing_secrets(manifests), "the Secret mcpfleet-secrets")


@k8s_app.command("apply")
@fleet_command
async def k8s_apply(
    ctx: typer.Context,
    namespace: Namespace = "default",
    image: Image = DEFAULT_IMAGE,
    force: Annotated[bool, typer.Option("--force", help="take over fields other managers own")] = False,
    context: Context = None,
) -> None:
    """Server-side apply the fleet's manifests to the current kubeconfig context."""
    import asyncio

    from mcpfleet.deploy.cluster import KubernetesCluster
    from mcpfleet.deploy.kubernetes import missing_secrets

    manifests = _manifests(ctx, namespace, image)
    _warn_missing(missing_secrets(manifests), "the Secret mcpfleet-secrets")

    def run() -> list[str]:
        return KubernetesCluster(namespace, context=context).apply(manifests, force=force)

    for applied in await asyncio.to_thread(run):
        console.print(f"applied {applied}", highlight=False)


@k8s_app.command("scale")
@fleet_command
async def k8s_scale(
    ctx: typer.Context,
    server: Annotated[str, typer.Argument(help="server name")],
    replicas: Annotated[int, typer.Argument(help="instances (pods) to run", min=0)],
    namespace: Namespace = "default",
    context: Context = None,
) -> None:
    """Set how many pods run a server (its Deployment mcp-SERVER)."""
    import asyncio

    from mcpfleet.deploy.cluster import KubernetesCluster

    state_of(ctx).manager().spec(server)  # an unknown name fails here, with suggestions
    await asyncio.to_thread(lambda: KubernetesCluster(namespace, context=context).scale(server, replicas))
    console.print(f"{server}: scaled to {replicas}")


@k8s_app.command("status")
@fleet_command
async def k8s_status(
    namespace: Namespace = "default",
    context: Context = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The fleet's Deployments and their ready replicas; exit 1 if any is short."""
    import asyncio

    from mcpfleet.deploy.cluster import KubernetesCluster

    rows = await asyncio.to_thread(lambda: KubernetesCluster(namespace, context=context).status())
    if as_json:
        console.print_json(json.dumps([{**asdict(r), "healthy": r.healthy} for r in rows]))
    else:
        table = Table(
            "deployment", "server", "ready", "up-to-date", "available", title=f"mcpfleet on {namespace}"
        )
        for r in rows:
            ready = f"{r.ready}/{r.replicas}" if r.healthy else f"[red]{r.ready}/{r.replicas}[/]"
            table.add_row(r.name, r.server or "(gateway)", ready, str(r.updated), str(r.available))
        console.print(table)
    if not rows:
        err.print(
            f"No mcpfleet Deployments in namespace {namespace}; `mcpfleet deploy k8s apply` creates them"
        )
        raise typer.Exit(1)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


async def _wait_for(urls: Sequence[str], timeout: float) -> list[str]:
    """Poll each URL until it answers 200 or ``timeout`` passes; the URLs that never did."""
    import asyncio

    import httpx

    pending = list(urls)
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=3.0) as client:
        while pending and time.monotonic() < deadline:
            for url in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        pending.remove(url)
            if pending:
                await asyncio.sleep(1.0)
    return pending


@deploy_app.command("wait", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def wait(
    ctx: typer.Context,
    url: Annotated[list[str], typer.Option("--url", help="a readiness URL to wait for (repeat)")],
    timeout: Annotated[float, typer.Option(help="seconds to wait before going on anyway")] = 300.0,
) -> None:
    """Wait until every URL answers 200, then run the command after `--` in this process.

    The gateway container starts this way: `mcpfleet deploy wait --url URL... -- mcpfleet up ...`.
    """
    import asyncio

    late = asyncio.run(_wait_for(url, timeout))
    if late:
        err.print(f"[yellow]warning:[/] not ready after {timeout:.0f} s, starting anyway: {', '.join(late)}")
    if ctx.args:
        sys.stdout.flush()
        os.execvp(ctx.args[0], ctx.args)  # the command takes this process over (signals, exit code)


SwarmOut = Annotated[Path, typer.Option("--out", help="folder for stack.yaml, fleet/ and secrets/")]


def _render_stack(
    ctx: typer.Context, out: Path, image: str, secrets: SwarmSecrets, gateway_replicas: int, port: int | None
) -> Path:
    from mcpfleet.deploy.swarm import render_stack

    manager = state_of(ctx).manager()
    files = render_stack(
        manager.config, out, image=image, secrets=secrets.value, gateway_replicas=gateway_replicas,
        environ=manager.environ, gateway_port=port,
    )  # fmt: skip
    count = len(list(files.config_dir.iterdir()))
    console.print(f"Wrote {files.stack_file} and {count} fleet files in {files.config_dir}/")
    if secrets is SwarmSecrets.external and files.secrets:
        console.print(
            f"Create its secrets on a manager first, then remove {files.secrets_dir}/: "
            + "; ".join(f"docker secret create {n} {files.secrets_dir}/{n}" for n in files.secrets),
            highlight=False, soft_wrap=True,
        )  # fmt: skip
    _warn_missing(files.missing, f"{files.secrets_dir}/")
    return files.stack_file


@swarm_app.command("render")
@fleet_command
async def swarm_render(
    ctx: typer.Context,
    out: SwarmOut = Path("deploy/swarm"),
    image: Image = DEFAULT_IMAGE,
    secrets: Annotated[
        SwarmSecrets, typer.Option(help="external: `docker secret create` them; file: written to secrets/")
    ] = SwarmSecrets.external,
    gateway_replicas: Annotated[int, typer.Option(help="gateway tasks behind the ingress")] = 2,
    port: Annotated[int | None, typer.Option(help="gateway port (default from config)")] = None,
) -> None:
    """Write a stack file: services with replicas, health-gated rolling updates with rollback."""
    _render_stack(ctx, out, image, secrets, gateway_replicas, port)


@swarm_app.command("apply")
@fleet_command
async def swarm_apply(
    ctx: typer.Context,
    out: SwarmOut = Path("deploy/swarm"),
    name: Annotated[str, typer.Option("--name", help="stack name")] = "mcpfleet",
    image: Image = DEFAULT_IMAGE,
    secrets: Annotated[
        SwarmSecrets, typer.Option(help="external or file (see render)")
    ] = SwarmSecrets.external,
    gateway_replicas: Annotated[int, typer.Option(help="gateway tasks behind the ingress")] = 2,
) -> None:
    """Render the stack, then `docker stack deploy -c stack.yaml NAME` on the swarm manager."""
    from mcpfleet.deploy.swarm import stack_deploy

    stack_file = _render_stack(ctx, out, image, secrets, gateway_replicas, None)
    console.print(await stack_deploy(stack_file, name), end="", highlight=False)
    console.print(f"Deployed stack {name}; watch it with `docker stack services {name}`.")
