"""Turn measurements into the side-by-side tables and the PASS/FAIL verdict on the issue's goals.

Every server is measured once per round at each concurrency, the servers one after another, so
the two sides of a comparison are measured seconds apart. Ratios are therefore taken round by
round (paired) and the median of those ratios is reported: background load on a shared machine
drifts over minutes, and a ratio of two numbers measured seconds apart cancels most of it. Single
numbers (req/s, p50, p99, CPU) are medians over rounds.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from load import Measurement

Key = tuple[str, str, int]  # (server, scenario, concurrency)

SPEEDUP_GOAL = 2.0  # Shipyard vs azmlinfsrv req/s at concurrency 8, real score.py
SPEEDUP_CONCURRENCY = 8
FLOOR_GOAL = 0.70  # Shipyard constant score.py vs bare uvicorn, same worker count

# (heading, columns as (title, server, scenario), ratio label: first column's req/s over the second's)
TABLES: list[tuple[str, list[tuple[str, str, str]], str]] = [
    (
        "**Real score.py** (`score_onnx.py`: onnxruntime, LogisticRegression on iris, one row, `POST /score`)",
        [("Shipyard", "shipyard", "score"), ("azmlinfsrv", "azmlinfsrv", "score")],
        "Shipyard ÷ azmlinfsrv",
    ),
    (
        '**Constant score.py** (`score_constant.py`: `run` returns `{"result": [0]}`) vs. the bare-uvicorn floor',
        [
            ("Shipyard", "shipyard", "constant"),
            ("uvicorn floor", "uvicorn-floor", "constant"),
            ("azmlinfsrv", "azmlinfsrv", "constant"),
        ],
        "Shipyard ÷ floor",
    ),
    (
        "**Where `run()` runs** (constant score.py): the default `SHIPYARD_SCORING_MODE=auto` (on the event "
        "loop once `run()` has proved fast) vs `thread` (every call handed to the scoring thread and back)",
        [("auto", "shipyard", "constant"), ("thread", "shipyard-thread", "constant")],
        "auto ÷ thread",
    ),
    (
        "**No score.py**: Shipyard serving `model.onnx` itself, `POST /v2/models/iris/infer` (context)",
        [("Shipyard V2", "shipyard", "v2-infer"), ("Shipyard score.py", "shipyard", "score")],
        "V2 ÷ score.py",
    ),
]


@dataclass(frozen=True)
class Cell:
    """One server/scenario/concurrency, summarised over rounds."""

    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float | None  # server CPU time per request


@dataclass(frozen=True)
class Verdict:
    goal: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.goal}: {self.detail}"


class Results:
    """All measurements of a run, in round order for each key."""

    def __init__(self, measured: dict[Key, list[Measurement]]) -> None:
        self.measured = measured
        self.cells = {key: _summarise(runs) for key, runs in measured.items()}

    def ratio(self, first: Key, second: Key) -> float | None:
        """Median over rounds of first's req/s / second's req/s, each pair measured seconds apart."""
        pairs = zip(self.measured.get(first, []), self.measured.get(second, []))
        ratios = [a.rps / b.rps for a, b in pairs if b.rps]
        return statistics.median(ratios) if ratios else None


def _summarise(runs: list[Measurement]) -> Cell:
    cpu = [m.server_cpu_us for m in runs if m.server_cpu_us is not None]
    return Cell(
        rps=statistics.median(m.rps for m in runs),
        p50_ms=statistics.median(m.p50_ms for m in runs),
        p99_ms=statistics.median(m.p99_ms for m in runs),
        cpu_us=statistics.median(cpu) if cpu else None,
    )


def side_by_side(
    results: Results, concurrencies: list[int], columns: list[tuple[str, str, str]], ratio_label: str = ""
) -> str:
    """A markdown table: one row per concurrency, req/s + p50 + p99 for each (title, server, scenario).

    With ``ratio_label``, a last column gives the first column's req/s over the second's (paired
    median). Columns that were not measured are left out; "" when nothing in it was measured.
    """
    cells = results.cells
    present = [col for col in columns if any((col[1], col[2], c) in cells for c in concurrencies)]
    if not present:
        return ""
    show_ratio = bool(ratio_label) and columns[0] in present and columns[1] in present
    header = ["concurrency"]
    for title, _, _ in present:
        header += [f"{title} req/s", "p50 ms", "p99 ms"]
    if show_ratio:
        header.append(ratio_label)
    lines = ["| " + " | ".join(header) + " |", "|" + "---:|" * len(header)]
    for concurrency in concurrencies:
        row = [str(concurrency)]
        for _, server, scenario in present:
            cell = cells.get((server, scenario, concurrency))
            row += [f"{cell.rps:,.0f}", f"{cell.p50_ms:.2f}", f"{cell.p99_ms:.2f}"] if cell else ["–"] * 3
        if show_ratio:
            (_, server_a, scenario_a), (_, server_b, scenario_b) = columns[0], columns[1]
            ratio = results.ratio((server_a, scenario_a, concurrency), (server_b, scenario_b, concurrency))
            row.append(f"{ratio:.2f}×" if ratio is not None else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def cpu_table(results: Results, concurrencies: list[int]) -> str:
    """Server CPU per request: the number that moves least when the machine is busy."""
    labels = list(dict.fromkeys((server, scenario) for server, scenario, _ in results.cells))
    lines = [
        "| server / scenario | " + " | ".join(f"c={c}" for c in concurrencies) + " |",
        "|---|" + "---:|" * len(concurrencies),
    ]
    for server, scenario in labels:
        row = []
        for concurrency in concurrencies:
            cell = results.cells.get((server, scenario, concurrency))
            row.append(f"{cell.cpu_us:,.0f}" if cell and cell.cpu_us is not None else "–")
        lines.append(f"| {server} / {scenario} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def tables(results: Results, concurrencies: list[int]) -> str:
    """All tables of the report that have numbers, in the order the README shows them."""
    sections = []
    for heading, columns, ratio_label in TABLES:
        table = side_by_side(results, concurrencies, columns, ratio_label)
        if table:
            sections.append(f"{heading}\n\n{table}")
    if any(cell.cpu_us is not None for cell in results.cells.values()):
        sections.append(
            "**Server CPU per request** (µs of user + system time of all the server's processes; "
            "lower is better, and steadier than req/s on a busy machine)\n\n" + cpu_table(results, concurrencies)
        )
    return "\n\n".join(sections)


def verdicts(results: Results, concurrencies: list[int]) -> list[Verdict]:
    """The issue's two goals, each with the numbers that decided it."""
    out = []
    ours_key: Key = ("shipyard", "score", SPEEDUP_CONCURRENCY)
    theirs_key: Key = ("azmlinfsrv", "score", SPEEDUP_CONCURRENCY)
    ours, theirs = results.cells.get(ours_key), results.cells.get(theirs_key)
    speedup = results.ratio(ours_key, theirs_key)
    goal = f"Shipyard ≥ {SPEEDUP_GOAL:g}× azmlinfsrv req/s at concurrency {SPEEDUP_CONCURRENCY}, p99 no worse"
    if ours and theirs and speedup is not None:
        passed = speedup >= SPEEDUP_GOAL and ours.p99_ms <= theirs.p99_ms
        detail = (
            f"{ours.rps:,.0f} vs {theirs.rps:,.0f} req/s, {speedup:.2f}× (paired median); "
            f"p99 {ours.p99_ms:.2f} vs {theirs.p99_ms:.2f} ms"
        )
        out.append(Verdict(goal, passed, detail))
    else:
        out.append(Verdict(goal, False, "not measured (run both servers at concurrency 8)"))

    goal = f"Shipyard constant score.py ≥ {FLOOR_GOAL:.0%} of the bare-uvicorn floor's req/s (every concurrency)"
    parts, passed = [], True
    for concurrency in concurrencies:
        share = results.ratio(("shipyard", "constant", concurrency), ("uvicorn-floor", "constant", concurrency))
        if share is not None:
            passed &= share >= FLOOR_GOAL
            parts.append(f"c={concurrency}: {share:.0%}")
    out.append(Verdict(goal, passed and bool(parts), "; ".join(parts) or "not measured"))
    return out
