"""The gateway benchmark's verdicts: its targets, checked against one run's results.

mcpfleet adds at most 1 ms p50 over direct at concurrency 1, serves at least 2,000 calls/s at
concurrency 64, and at least 3x the best peer's throughput; metrics cost at most 5% of p50;
security keeps 80% of the bare gateway's throughput; a cache hit's p50 is at most 0.3 ms over
the uncached gateway's, and hit throughput at c64 at least the uncached path's.
"""

from __future__ import annotations

from typing import Any

from lib.load import LEVELS

PEER_TARGETS = ("fastmcp", "mcp-proxy", "contextforge")


def verdict(results: dict[str, Any]) -> dict[str, Any]:
    """The ``verdict`` object for the targets' ``results`` (a check only where its targets ran)."""

    def tput(name: str, level: int) -> float | None:
        row = results.get(name, {}).get(f"throughput_c{level}")
        return row["calls_per_s"] if row and not row.get("errors") else None

    out: dict[str, Any] = {}
    fleet, direct = results.get("mcpfleet", {}), results.get("direct", {})
    if "latency_c1" in fleet and "latency_c1" in direct:
        added = fleet["latency_c1"]["p50_ms"] - direct["latency_c1"]["p50_ms"]
        out["p50_added_ms"] = round(added, 3)
        out["p50_added_at_most_1ms"] = added <= 1.0
    bare = results.get("mcpfleet-nometrics", {})
    if "latency_c1" in fleet and "latency_c1" in bare:
        cost = fleet["latency_c1"]["p50_ms"] / bare["latency_c1"]["p50_ms"] - 1
        out["metrics_p50_overhead_pct"] = round(cost * 100, 1)
        out["metrics_overhead_at_most_5pct"] = cost <= 0.05
    for cached in ("mcpfleet-cached", "mcpfleet-cached-redis"):
        hit = results.get(cached, {})
        if "latency_c1" in hit and "latency_c1" in fleet:
            over = hit["latency_c1"]["p50_ms"] - fleet["latency_c1"]["p50_ms"]
            out[f"{cached}_p50_over_uncached_ms"] = round(over, 3)
            out[f"{cached}_hit_at_most_0.3ms_over"] = over <= 0.3
        hits64, plain64 = tput(cached, 64), tput("mcpfleet", 64)
        if hits64 is not None and plain64 is not None:
            out[f"{cached}_c64_vs_uncached"] = round(hits64 / plain64, 2)
            out[f"{cached}_c64_at_least_uncached"] = hits64 >= plain64
    secured, unsecured = tput("mcpfleet-secured", 64), tput("mcpfleet-bare", 64)
    if secured is not None and unsecured is not None:
        out["security_c64_throughput_share"] = round(secured / unsecured, 3)
        out["security_keeps_80pct"] = secured >= 0.8 * unsecured
    fleet64 = tput("mcpfleet", 64)
    if fleet64 is not None:
        out["mcpfleet_c64_calls_per_s"] = fleet64
        out["c64_at_least_2000"] = fleet64 >= 2000
        best_of = {p: max(filter(None, (tput(p, lv) for lv in LEVELS)), default=None) for p in PEER_TARGETS}
        peers = {p: v for p, v in best_of.items() if v is not None}
        if peers:
            best = max(peers, key=lambda p: peers[p])
            out["best_peer"] = best
            out["best_peer_calls_per_s"] = peers[best]
            out["ratio_over_best_peer"] = round(fleet64 / peers[best], 2)
            out["at_least_3x_best_peer"] = fleet64 >= 3 * peers[best]
    return out
