"""The markdown report of a batching benchmark run (raw.json from run.py), with the goals of issue #17."""

from __future__ import annotations

import statistics
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
    lines += paired(raw)
    return "\n".join(lines) + "\n"


CONTENDED_BELOW = 0.9  # a side's CPU share under this: something else ran on its CPU (one more process: ~0.5)


def contended(entry: dict) -> bool:
    """Whether either side of a paired round shared its CPU with another program (then the pair is uneven)."""
    return any(side.get("cpu_share", 1.0) < CONTENDED_BELOW for side in (entry["shipyard"], entry["ceiling"]))


def paired_summary(rounds: list[dict]) -> dict:
    """Median ratio over every round, and over the rounds where both sides had their CPU alone (the verdict)."""
    clean = [entry["ratio"] for entry in rounds if not contended(entry)]
    every = [entry["ratio"] for entry in rounds]
    return {"median_ratio": statistics.median(every) if every else None,
            "median_ratio_uncontended": statistics.median(clean) if clean else None,
            "rounds": len(every), "uncontended_rounds": len(clean)}


def paired(raw: dict) -> list[str]:
    """run.py --paired-rounds: each round's batched req/s over in-process rows/s, and the median ratio."""
    found = raw.get("paired")
    if not found or not found["rounds"]:
        return []
    c = found["concurrency"]
    lines = [f"#### Paired: {found['server']} (REST {found['protocol']}, c={c}) vs. onnxruntime in-process "
             f"(batch {c}), `{found['model']}`", "",
             "| round | first | Shipyard req/s | p50 / p99 ms | CPU share | in-process rows/s | ms/call | CPU share "
             "| load avg | Shipyard ÷ in-process |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for entry in found["rounds"]:
        shipyard, ceiling = entry["shipyard"], entry["ceiling"]
        mark = " (contended)" if contended(entry) else ""
        lines.append(f"| {entry['round']} | {entry['order'][0]} | {shipyard['rps']:,.0f} | "
                     f"{shipyard['p50_ms']:.1f} / {shipyard['p99_ms']:.1f} | "
                     f"{shipyard.get('cpu_share', float('nan')):.3f} | "
                     f"{ceiling['rows_per_s']:,.0f} | {ceiling['ms_per_call']:.1f} | {ceiling['cpu_share']:.3f} | "
                     f"{entry['load_avg'][0]:.1f}-{entry['load_avg'][1]:.1f} | {entry['ratio']:.0%}{mark} |")
    summary = paired_summary(found["rounds"])
    ratios = sorted(entry["ratio"] for entry in found["rounds"])
    lines += ["", f"Median of all {summary['rounds']} rounds {summary['median_ratio']:.0%} "
                  f"(range {ratios[0]:.0%}-{ratios[-1]:.0%}); a round is contended when either side's CPU share "
                  f"is under {CONTENDED_BELOW:g} (another program ran on its CPU), and is left out of the verdict.", ""]
    clean = summary["median_ratio_uncontended"]
    if clean is None:
        return lines + [f"- ≥ 70 % of onnxruntime in-process at batch {c}, paired: no verdict (every round was "
                        "contended: run it on a quiet machine)", ""]
    return lines + [f"- ≥ 70 % of onnxruntime in-process at batch {c}, paired: median {clean:.0%} over "
                    f"{summary['uncontended_rounds']} uncontended round(s) ({'met' if clean >= 0.7 else 'NOT met'})", ""]


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
                   f"{share:.0%} ({'met' if share >= 0.7 else 'NOT met'}; measured minutes apart, unpaired: "
                   f"`--paired-rounds` gives the verdict"
                   + (f"; in-process CPU share {ceiling['cpu_share']:.2f}, contended" if ceiling.get("cpu_share", 1.0)
                      < CONTENDED_BELOW else "") + ")")
        delay_ms = raw["environment"].get("shipyard_delay_us", 0) / 1000
        bound = delay_ms + 2 * ceiling["ms_per_call"]
        out.append(f"- p99 within the queue delay + two batch times ({delay_ms:g} + 2 × {ceiling['ms_per_call']:.0f} = "
                   f"{bound:.0f} ms): p99 {batched['p99_ms']:.0f} ms "
                   f"({'met' if batched['p99_ms'] <= bound else 'NOT met'})")
    return out + [""]
