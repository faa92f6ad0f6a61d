"""``python -m mcpfleet.sandbox.runner``: run a container whose only way out is the egress proxy.

    python -m mcpfleet.sandbox.runner --server fetch --allow api.github.com:443 --port 3128 \\
        -- podman run -i --rm --network ns:{netns} ... IMAGE

1. make a network namespace with only ``lo`` and a listener on ``127.0.0.1:PORT`` in it;
2. serve that listener with the :class:`~mcpfleet.sandbox.egress.EgressProxy` (its upstream
   connections leave from this process's own namespace);
3. run the command with ``{netns}`` replaced by the namespace's path, stdio passed through (the
   MCP connection), SIGTERM and SIGINT passed on;
4. exit with the command's status, once it has exited.

mcpfleet launches this for an ``oci`` server with a ``network.allow`` list (see
:func:`mcpfleet.sandbox.launch.sandboxed_command`); it is the process mcpfleet supervises.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from mcpfleet.exceptions import ConfigError
from mcpfleet.sandbox.egress import EgressPolicy, EgressProxy
from mcpfleet.sandbox.launch import NETNS
from mcpfleet.sandbox.netns import PrivateNetwork

__all__ = ["main", "run"]


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mcpfleet.sandbox.runner")
    parser.add_argument("--server", required=True, help="the server's name, for messages")
    parser.add_argument("--allow", action="append", default=[], help="host:port, once per destination")
    parser.add_argument("--port", type=int, default=3128, help="the proxy's port inside the namespace")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give the command to run after --")
    return args


async def run(server: str, allow: list[str], port: int, command: list[str]) -> int:
    """Steps 1 to 4 above; returns the exit status (128 + N for a command killed by signal N)."""
    network = PrivateNetwork(port)
    listener = network.open()
    proxy = EgressProxy(EgressPolicy.parse(allow), server=server)
    serving = await asyncio.start_server(proxy.handle, sock=listener)
    # Signals are caught before the child starts, and passed on once it has.
    received: list[signal.Signals] = []
    child: asyncio.subprocess.Process | None = None

    def forward(sig: signal.Signals) -> None:
        if child is None:
            received.append(sig)
        else:
            child.send_signal(sig)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, forward, sig)
    try:
        child = await asyncio.create_subprocess_exec(*(a.replace(NETNS, network.path) for a in command))
        for sig in received:
            child.send_signal(sig)
        code = await child.wait()
        return 128 - code if code < 0 else code
    finally:
        serving.close()
        network.close()


def main(argv: list[str] | None = None) -> None:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    try:
        code = asyncio.run(run(args.server, args.allow, args.port, args.command))
    except ConfigError as exc:
        print(f"mcpfleet sandbox ({args.server}): {exc}", file=sys.stderr, flush=True)
        code = 126
    except FileNotFoundError as exc:
        print(f"mcpfleet sandbox ({args.server}): cannot run {exc.filename!r}", file=sys.stderr, flush=True)
        code = 127
    sys.exit(code)


if __name__ == "__main__":
    main()
