"""The ceiling: onnxruntime called in-process on batches of the same row, rows/s per batch size.

    python inprocess.py MODEL.onnx 1,8,64,256 SECONDS     # prints {"<batch>": {"rows_per_s":..., "ms_per_call":...}}
    python inprocess.py MODEL.onnx --serve                # prints {"ready": [...]}, then per "BATCH SECONDS" line
                                                          # read: one {"rows_per_s":..., ...} line

run.py starts it pinned to the servers' CPUs. Two sessions: onnxruntime's default options (what the
peers' runtimes use) and, when this process may use fewer CPUs than the machine has, an intra-op
pool of that many threads (what Shipyard's ONNX scorer does); the ceiling is the better of the two.
``--serve`` keeps the sessions (and their memory) for run.py's paired mode, which asks for one
measurement per round, between measurements of the server, and leaves the process blocked on
its input (no CPU) while the server is measured.

Each result carries ``cpu_share``: this process's CPU time over the wall time of the timed calls.
Pinned to one CPU it is ~1.0 when the ceiling had its CPU alone and ~0.5 when one other runnable
process shared it, which halves the rows/s (the 2x swings seen on the shared machine).
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort


def sessions(path: str) -> dict[str, ort.InferenceSession]:
    found = {"default": ort.InferenceSession(path, providers=["CPUExecutionProvider"])}
    allowed = len(os.sched_getaffinity(0))
    if allowed < (os.cpu_count() or allowed):
        options = ort.SessionOptions()
        options.intra_op_num_threads = allowed
        found[f"{allowed} thread(s)"] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return found


def ceiling(found: dict[str, ort.InferenceSession], batch: int, seconds: float) -> dict:
    """The best rows/s of the sessions at ``batch`` rows per call, each run for ``seconds`` (at least 3 calls)."""
    width = next(iter(found.values())).get_inputs()[0].shape[1]
    x = np.random.default_rng(1).standard_normal((batch, width)).astype(np.float32)
    best: dict = {}
    for name, session in found.items():
        session.run(None, {"x": x})  # warm-up
        calls, cpu_start, start = 0, time.process_time(), time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
            session.run(None, {"x": x})
            calls += 1
        rate = calls * batch / elapsed
        if not best or rate > best["rows_per_s"]:
            best = {"rows_per_s": rate, "ms_per_call": elapsed / calls * 1000, "session": name,
                    "cpu_share": round((time.process_time() - cpu_start) / elapsed, 3)}
    return best


def main() -> None:
    path = sys.argv[1]
    found = sessions(path)
    if sys.argv[2] == "--serve":
        print(json.dumps({"ready": list(found)}), flush=True)  # sessions made: the caller may start measuring
        for line in sys.stdin:
            batch, seconds = line.split()
            print(json.dumps(ceiling(found, int(batch), float(seconds))), flush=True)
        return
    batches, seconds = [int(b) for b in sys.argv[2].split(",")], float(sys.argv[3])
    print(json.dumps({str(batch): ceiling(found, batch, seconds) for batch in batches}))


if __name__ == "__main__":
    main()
