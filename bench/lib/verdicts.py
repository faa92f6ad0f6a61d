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


WRK_PEERS = ("cf-translate", "supergateway", "mcp-proxy", "contextforge", "fastmcp")


def wrk_verdict(results: dict[str, Any]) -> dict[str, Any]:
    """Issue 17's goals, for a ``--load wrk`` run: mcpfleet ahead of every peer that ran at c=1,
    8 and 64 (1.5x the best at c=8, 3x at c=64), p50 at c=1 below the best peer's, at most
    150 us of gateway+instance CPU per call at c=8 (and the figure with every check on, where
    ``mcpfleet-secured`` ran), the gateway's PSS at c=64 at most 150 MB. Ratios, not absolute
    figures: the machine is shared, and a ratio of two targets measured in one run is what
    holds still."""

    def row(name: str, level: int) -> dict[str, Any] | None:
        found = results.get(name, {}).get(f"c{level}")
        return found if found and not found.get("errors") else None

    out: dict[str, Any] = {}
    fleet = "mcpfleet"
    peers = [p for p in WRK_PEERS if any(row(p, lv) for lv in LEVELS)]
    for level in LEVELS:
        mine = row(fleet, level)
        theirs = {p: r["calls_per_s"] for p in peers if (r := row(p, level))}
        if mine is None or not theirs:
            continue
        best = max(theirs, key=lambda p: theirs[p])
        ratio = mine["calls_per_s"] / theirs[best]
        out[f"c{level}_best_peer"] = best
        out[f"c{level}_ratio_over_best_peer"] = round(ratio, 2)
        out[f"c{level}_ahead_of_every_peer"] = ratio > 1
    if "c8_ratio_over_best_peer" in out:
        out["c8_at_least_1.5x"] = out["c8_ratio_over_best_peer"] >= 1.5
    if "c64_ratio_over_best_peer" in out:
        out["c64_at_least_3x"] = out["c64_ratio_over_best_peer"] >= 3
    mine1 = row(fleet, 1)
    p50s = {p: r["p50_ms"] for p in peers if (r := row(p, 1))}
    if mine1 and p50s:
        best = min(p50s, key=lambda p: p50s[p])
        out["c1_p50_ms"] = mine1["p50_ms"]
        out["c1_best_peer_p50_ms"] = p50s[best]
        out["c1_p50_below_best_peer"] = mine1["p50_ms"] < p50s[best]
    mine8 = row(fleet, 8)
    if mine8:
        out["c8_cpu_us_per_call"] = mine8["server_cpu_us_per_call"]
        out["c8_cpu_at_most_150us"] = mine8["server_cpu_us_per_call"] <= 150
        for p in peers:
            if (r := row(p, 8)) is not None:
                out[f"c8_cpu_vs_{p}"] = round(
                    mine8["server_cpu_us_per_call"] / r["server_cpu_us_per_call"], 2
                )
    secured = row("mcpfleet-secured", 8)
    if secured:  # authentication, access control, rate limits and audit all on
        out["c8_cpu_us_per_call_secured"] = secured["server_cpu_us_per_call"]
    pss = (row(fleet, 64) or {}).get("gateway_pss_mb")
    if pss is not None:
        out["c64_gateway_pss_mb"] = pss
        out["c64_gateway_pss_at_most_150mb"] = pss <= 150
    return out
