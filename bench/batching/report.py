"""The markdown report of a batching benchmark run (raw.json from run.py), with the goals of issue #17."""

from __future__ import annotations

from collections import defaultdict

PEERS = ("mlserver", "bentoml", "litserve")


def render(raw: dict) -> str:
    env = raw["environment"]
    lines = [f"Run {env['date']}: {env['cpus']} CPUs, {env['placement']}; Python {env['python']}, onnxruntime "
             f"{env['onnxruntime']}, MLServer {env['mlserver']}, BentoML {env['bentoml']}, LitServe {env['litserve']}; "
             f"{env['settings']}. Load average at start {env['load_avg_at_start'][0]:.1f} "
             f"(the machine is shared; each row's load average is in raw.json).", ""]
    runs = raw["runs"]
    concurrencies = sorted({run["concurrency"] for run in runs})
    for model in dict.fromkeys(run["model"] for run in runs):
        table: dict[tuple[str, str], dict[int, dict]] = defaultdict(dict)
        for run in runs:
            if run["model"] == model:
                table[run["server"], run["protocol"]][run["concurrency"]] = run
        lines += [f"#### `{model}`: req/s (p50 / p99 ms), 1-row requests", "",
                  "| server | protocol | " + " | ".join(f"c={c}" for c in concurrencies) + " |",
                  "|---|---|" + "---|" * len(concurrencies)]
        for (server, protocol), cells in table.items():
            values = [_cell(cells[c]) if c in cells else "" for c in concurrencies]
            lines.append(f"| {server} | REST {protocol} | " + " | ".join(values) + " |")
        ceiling = raw["in_process"].get(model, {})
        if ceiling:
            values = [f"{ceiling[str(c)]['rows_per_s']:,.0f} rows/s ({ceiling[str(c)]['ms_per_call']:.2f} ms/call)"
                      if str(c) in ceiling else "" for c in concurrencies]
            lines.append("| onnxruntime in-process | batch = c | " + " | ".join(values) + " |")
        lines.append("")
    lines += goals(raw)
    return "\n".join(lines) + "\n"


def _cell(run: dict) -> str:
    text = f"{run['rps']:,.0f} ({run['p50_ms']:.1f} / {run['p99_ms']:.1f})"
    timeouts = run["errors"].get("timeout", 0)
    return text + (f", {timeouts} timed out (> 10 s)" if timeouts else "")


def goals(raw: dict, model: str = "mlp", concurrency: int = 64) -> list[str]:
    """The issue's goals on the MLP at c=64 (REST JSON, the protocol every server speaks)."""
    cell = {(r["server"], r["protocol"]): r for r in raw["runs"] if r["model"] == model and r["concurrency"] == concurrency}
    batched, unbatched = cell.get(("shipyard-batched", "json")), cell.get(("shipyard", "json"))
    if batched is None:
        return []
    out = [f"Goals ({model}, c={concurrency}, REST JSON):", ""]
    if unbatched:
        ratio = batched["rps"] / unbatched["rps"]
        out.append(f"- batched ≥ 4× unbatched: {ratio:.1f}× ({'met' if ratio >= 4 else 'NOT met'})")
    peers = [cell[(p, "json")] for p in PEERS if (p, "json") in cell]
    if peers:
        best = max(peers, key=lambda r: r["rps"])
        ratio = batched["rps"] / best["rps"]
        p99_ok = batched["p99_ms"] <= best["p99_ms"]
        out.append(f"- ≥ 1.5× the best peer ({best['server']}, {best['rps']:,.0f} req/s, p99 {best['p99_ms']:.0f} ms) "
                   f"with p99 no worse: {ratio:.2f}×, p99 {batched['p99_ms']:.0f} ms "
                   f"({'met' if ratio >= 1.5 and p99_ok else 'NOT met'})")
    ceiling = raw["in_process"].get(model, {}).get(str(concurrency))
    if ceiling:
        share = batched["rps"] / ceiling["rows_per_s"]
        out.append(f"- ≥ 70 % of onnxruntime in-process at batch {concurrency} ({ceiling['rows_per_s']:,.0f} rows/s): "
                   f"{share:.0%} ({'met' if share >= 0.7 else 'NOT met'})")
        delay_ms = raw["environment"].get("shipyard_delay_us", 0) / 1000
        bound = delay_ms + 2 * ceiling["ms_per_call"]
        out.append(f"- p99 within the queue delay + two batch times ({delay_ms:g} + 2 × {ceiling['ms_per_call']:.0f} = "
                   f"{bound:.0f} ms): p99 {batched['p99_ms']:.0f} ms "
                   f"({'met' if batched['p99_ms'] <= bound else 'NOT met'})")
    return out + [""]
