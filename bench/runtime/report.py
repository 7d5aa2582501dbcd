"""Turn measurements into the side-by-side tables and the PASS/FAIL verdict on the issue's goals.

With several rounds, each number is the median over rounds (req/s, p50 and p99 separately), which
keeps one noisy round on a shared machine from deciding a goal.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from load import Measurement

Key = tuple[str, str, int]  # (server, scenario, concurrency)

SPEEDUP_GOAL = 2.0  # Shipyard vs azmlinfsrv req/s at concurrency 8, real score.py
SPEEDUP_CONCURRENCY = 8
FLOOR_GOAL = 0.70  # Shipyard constant score.py vs bare uvicorn, same worker count


@dataclass(frozen=True)
class Cell:
    """One server/scenario/concurrency, summarised over rounds."""

    rps: float
    p50_ms: float
    p99_ms: float
    rounds: int
    read_errors: int
    cpu_us: float | None  # server CPU time per request


@dataclass(frozen=True)
class Verdict:
    goal: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.goal}: {self.detail}"


def summarise(measured: dict[Key, list[Measurement]]) -> dict[Key, Cell]:
    return {
        key: Cell(
            rps=statistics.median(m.rps for m in runs),
            p50_ms=statistics.median(m.p50_ms for m in runs),
            p99_ms=statistics.median(m.p99_ms for m in runs),
            rounds=len(runs),
            read_errors=sum(m.errors["read"] + m.errors["write"] for m in runs),
            cpu_us=_median_or_none([m.server_cpu_us for m in runs]),
        )
        for key, runs in measured.items()
    }


def _median_or_none(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else None


def cpu_table(cells: dict[Key, Cell], concurrencies: list[int]) -> str:
    """Server CPU per request: the number that moves least when the machine is busy."""
    labels = list(dict.fromkeys((server, scenario) for server, scenario, _ in cells))
    lines = [
        "| server / score.py | " + " | ".join(f"c={c}" for c in concurrencies) + " |",
        "|---|" + "---:|" * len(concurrencies),
    ]
    for server, scenario in labels:
        row = []
        for concurrency in concurrencies:
            cell = cells.get((server, scenario, concurrency))
            row.append(f"{cell.cpu_us:,.0f}" if cell and cell.cpu_us is not None else "–")
        lines.append(f"| {server} / {scenario} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def side_by_side(
    cells: dict[Key, Cell], concurrencies: list[int], columns: list[tuple[str, str, str]], ratio_label: str = ""
) -> str:
    """A markdown table: one row per concurrency, req/s + p50 + p99 for each (title, server, scenario).

    With ``ratio_label``, a last column gives the first column's req/s over the second's. Columns
    that were not measured are left out; an empty string means nothing in the table was measured.
    """
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
            first = cells.get((columns[0][1], columns[0][2], concurrency))
            second = cells.get((columns[1][1], columns[1][2], concurrency))
            row.append(f"{first.rps / second.rps:.2f}×" if first and second and second.rps else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# (heading, columns as (title, server, scenario), ratio label: first column's req/s over the second's)
TABLES: list[tuple[str, list[tuple[str, str, str]], str]] = [
    (
        "**Real score.py** (`score_onnx.py`: onnxruntime, LogisticRegression on iris, one row, `POST /score`)",
        [("Shipyard", "shipyard", "score"), ("azmlinfsrv", "azmlinfsrv", "score")],
        "Shipyard ÷ azmlinfsrv",
    ),
    (
        "**Constant score.py** (`score_constant.py`: `run` returns `{\"result\": [0]}`) vs. the bare-uvicorn floor",
        [
            ("Shipyard", "shipyard", "constant"),
            ("uvicorn floor", "uvicorn-floor", "constant"),
            ("azmlinfsrv", "azmlinfsrv", "constant"),
        ],
        "Shipyard ÷ floor",
    ),
    (
        "**No score.py**: Shipyard serving `model.onnx` itself, `POST /v2/models/iris/infer` (context)",
        [("Shipyard V2", "shipyard", "v2-infer"), ("Shipyard score.py", "shipyard", "score")],
        "V2 ÷ score.py",
    ),
]


def tables(cells: dict[Key, Cell], concurrencies: list[int]) -> str:
    """All tables of the report that have numbers, in the order the README shows them."""
    sections = []
    for heading, columns, ratio_label in TABLES:
        table = side_by_side(cells, concurrencies, columns, ratio_label)
        if table:
            sections.append(f"{heading}\n\n{table}")
    if any(cell.cpu_us is not None for cell in cells.values()):
        sections.append(
            "**Server CPU per request** (µs of user + system time of all the server's processes; "
            "lower is better, and steadier than req/s on a busy machine)\n\n" + cpu_table(cells, concurrencies)
        )
    return "\n\n".join(sections)


def verdicts(cells: dict[Key, Cell], concurrencies: list[int]) -> list[Verdict]:
    """The issue's two goals, each with the numbers that decided it."""
    results = []
    ours = cells.get(("shipyard", "score", SPEEDUP_CONCURRENCY))
    theirs = cells.get(("azmlinfsrv", "score", SPEEDUP_CONCURRENCY))
    goal = f"Shipyard ≥ {SPEEDUP_GOAL:g}× azmlinfsrv req/s at concurrency {SPEEDUP_CONCURRENCY}, p99 no worse"
    if ours and theirs:
        speedup = ours.rps / theirs.rps
        passed = speedup >= SPEEDUP_GOAL and ours.p99_ms <= theirs.p99_ms
        results.append(
            Verdict(
                goal,
                passed,
                f"{ours.rps:,.0f} vs {theirs.rps:,.0f} req/s = {speedup:.2f}×; "
                f"p99 {ours.p99_ms:.2f} vs {theirs.p99_ms:.2f} ms",
            )
        )
    else:
        results.append(Verdict(goal, False, "not measured (run both servers at concurrency 8)"))

    goal = f"Shipyard constant score.py ≥ {FLOOR_GOAL:.0%} of the bare-uvicorn floor's req/s"
    parts, passed, measured = [], True, False
    for concurrency in concurrencies:
        ours = cells.get(("shipyard", "constant", concurrency))
        floor = cells.get(("uvicorn-floor", "constant", concurrency))
        if ours and floor:
            measured = True
            share = ours.rps / floor.rps
            passed &= share >= FLOOR_GOAL
            parts.append(f"c={concurrency}: {ours.rps:,.0f}/{floor.rps:,.0f} = {share:.0%}")
    results.append(Verdict(goal, passed and measured, "; ".join(parts) or "not measured"))
    return results
