"""The gateway benchmark's second load generator: ``wrk`` (C, one thread) with a Lua script.

The Python generator (lib/load.py) costs about as much CPU per call as the faster gateways, and
on two cores it competes with them; ``wrk`` costs a few microseconds. One MCP session is opened
with the lean client (initialize, notifications/initialized, tools/list), then every wrk
connection POSTs ``tools/call`` of the echo tool in that session, each with its own JSON-RPC id
and text. A reply counts as an error unless it is HTTP 200 and its body holds the text sent
(JSON or SSE answers alike).

``measure_wrk`` reports, per concurrency: calls/s, p50/p99 latency, errors, and the target's
process tree's CPU per call (``server_cpu_us_per_call``): the figure least sensitive to other
load on the machine, since contention stretches wall time but not the CPU a call needs; and
after c=64, the PSS of the target's own process (``gateway_pss_mb``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psutil

from lib.load import TreeCpu
from lib.mcpclient import McpClient

LEVELS = (1, 8, 64)

_SCRIPT = """
wrk.method = "POST"
wrk.headers = HEADERS
local n = 0
bad = 0
first = nil
request = function()
  n = n + 1
  local text = "w" .. n
  return wrk.format(nil, nil, nil,
    '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"' .. TOOL ..
    '","arguments":{"text":"' .. text .. '"}}}')
end
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"text":"w', 1, true) then
    bad = bad + 1
    if first == nil then first = status .. " " .. string.sub(body, 1, 200) end
  end
end
threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  local wrong = 0
  local sample = ""
  for _, t in ipairs(threads) do
    wrong = wrong + t:get("bad")
    local f = t:get("first")
    if f ~= nil then sample = f end
  end
  io.write(string.format(
    'WRKJSON {"requests":%d,"seconds":%.4f,"errors":%d,"wrong":%d,'
    .. '"p50_us":%d,"p99_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration / 1e6, errors, wrong,
    latency:percentile(50), latency:percentile(99), latency.mean))
  if sample ~= "" then io.write("WRKFIRST " .. sample .. "\\n") end
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII text


def script(headers: dict[str, str], tool: str) -> str:
    table = "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()) + "}"
    return f"HEADERS = {table}\nTOOL = {_lua_string(tool)}\n" + _SCRIPT


async def run_wrk(url: str, lua: Path, connections: int, seconds: float) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
        "-s", str(lua), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    row: dict[str, Any] | None = None
    first = None
    for line in text.splitlines():
        if line.startswith("WRKJSON "):
            row = json.loads(line[8:])
        elif line.startswith("WRKFIRST "):
            first = line[9:]
    if row is None:
        raise RuntimeError(f"wrk said: {text[-600:]}")
    if first:
        row["first_error"] = first
    return row


def _pss_mb(pid: int | None) -> float | None:
    """The proportional set size of process ``pid`` (not its children), in MB."""
    if pid is None:
        return None
    try:
        return round(psutil.Process(pid).memory_full_info().pss / 1e6, 1)
    except (psutil.Error, AttributeError):  # gone, not ours, or no PSS on this platform
        return None


async def measure_wrk(
    url: str,
    pid: int | None,
    duration: float,
    headers: dict[str, str] | None = None,
    tool_suffix: str = "echo",
) -> dict[str, Any]:
    """Warm-up, then wrk at concurrency 1, 8 and 64 on one MCP session at ``url``."""
    client = McpClient(url, headers)
    await client.open(tool_suffix)
    session_headers = dict(client.http.headers)
    await client.aclose()
    wanted = {
        k: v
        for k, v in session_headers.items()
        if k.lower() not in ("host", "user-agent", "accept-encoding", "connection")
    }
    cpu = TreeCpu(pid)
    result: dict[str, Any] = {"tool": client.tool, "load": "wrk -t1, one MCP session"}
    with tempfile.TemporaryDirectory(prefix="mcpfleet-wrk-") as tmp:
        lua = Path(tmp, "call.lua")
        await asyncio.to_thread(lua.write_text, script(wanted, client.tool))
        warm = await run_wrk(url, lua, 8, 2)  # warm-up
        result["warmup_calls"] = warm["requests"]
        for level in LEVELS:
            before = cpu.seconds()
            row = await run_wrk(url, lua, level, duration)
            spent = cpu.seconds() - before
            calls = row["requests"]
            result[f"c{level}"] = {
                "calls": calls,
                "calls_per_s": round(calls / row["seconds"], 1),
                "errors": row["errors"] + row["wrong"],
                "p50_ms": round(row["p50_us"] / 1000, 3),
                "p99_ms": round(row["p99_us"] / 1000, 3),
                "server_cpu_us_per_call": round(spent * 1e6 / max(calls, 1), 1),
                **({"first_error": row["first_error"]} if "first_error" in row else {}),
            }
            if level == LEVELS[-1] and (pss := _pss_mb(pid)) is not None:
                result[f"c{level}"]["gateway_pss_mb"] = pss  # the gateway process, right after the load
    return result
