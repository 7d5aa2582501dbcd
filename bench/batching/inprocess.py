"""The ceiling: onnxruntime called in-process on batches of the same row, rows/s per batch size.

    python inprocess.py MODEL.onnx 1,8,64,256 SECONDS     # prints {"<batch>": {"rows_per_s":..., "ms_per_call":...}}

run.py starts it pinned to the servers' CPUs. Two sessions: onnxruntime's default options (what the
peers' runtimes use) and, when this process may use fewer CPUs than the machine has, an intra-op
pool of that many threads (what Shipyard's ONNX scorer does); the ceiling is the better of the two.
"""

import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    path, batches, seconds = sys.argv[1], [int(b) for b in sys.argv[2].split(",")], float(sys.argv[3])
    sessions = {"default": ort.InferenceSession(path, providers=["CPUExecutionProvider"])}
    allowed = len(os.sched_getaffinity(0))
    if allowed < (os.cpu_count() or allowed):
        options = ort.SessionOptions()
        options.intra_op_num_threads = allowed
        sessions[f"{allowed} thread(s)"] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    width = sessions["default"].get_inputs()[0].shape[1]
    results = {}
    for batch in batches:
        x = np.random.default_rng(1).standard_normal((batch, width)).astype(np.float32)
        for name, session in sessions.items():
            session.run(None, {"x": x})  # warm-up
            calls, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
                session.run(None, {"x": x})
                calls += 1
            rate = calls * batch / elapsed
            if str(batch) not in results or rate > results[str(batch)]["rows_per_s"]:
                results[str(batch)] = {"rows_per_s": rate, "ms_per_call": elapsed / calls * 1000, "session": name}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
