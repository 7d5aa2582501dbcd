"""req/s against concurrency, one line per server and protocol, one panel per model (run in the bench-plot venv).

    python plot.py raw.json batching.png
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    raw = json.loads(open(sys.argv[1]).read())
    models = list(dict.fromkeys(run["model"] for run in raw["runs"]))
    figure, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 4.8), squeeze=False)
    for axis, model in zip(axes[0], models):
        series = {}
        for run in raw["runs"]:
            if run["model"] == model:
                series.setdefault(f"{run['server']} ({run['protocol']})", []).append((run["concurrency"], run["rps"]))
        for label, points in series.items():
            points.sort()
            axis.plot([c for c, _ in points], [r for _, r in points], marker="o",
                      linestyle="-" if label.startswith("shipyard") else "--", label=label)
        ceiling = raw["in_process"].get(model, {})
        if ceiling:
            points = sorted((int(b), v["rows_per_s"]) for b, v in ceiling.items())
            axis.plot([b for b, _ in points], [r for _, r in points], color="black", linestyle=":",
                      marker="x", label="onnxruntime in-process (batch = c)")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xlabel("concurrent connections (1-row requests)")
        axis.set_ylabel("requests/s")
        axis.set_title(f"{model}")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"Model-bound serving, 1 worker each ({raw['environment']['date']})")
    figure.tight_layout()
    figure.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
