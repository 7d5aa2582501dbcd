"""The ceiling: onnxruntime called in-process on batches of the same row, rows/s per batch size.

    python inprocess.py MODEL.onnx 1,8,64,256 SECONDS     # prints {"<batch>": {"rows_per_s":..., "ms_per_call":...}}

run.py starts it pinned to the servers' CPUs, with the same default session options the servers use.
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main() -> None:
    path, batches, seconds = sys.argv[1], [int(b) for b in sys.argv[2].split(",")], float(sys.argv[3])
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    width = session.get_inputs()[0].shape[1]
    results = {}
    for batch in batches:
        x = np.random.default_rng(1).standard_normal((batch, width)).astype(np.float32)
        session.run(None, {"x": x})  # warm-up
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
            session.run(None, {"x": x})
            calls += 1
        results[str(batch)] = {"rows_per_s": calls * batch / elapsed, "ms_per_call": elapsed / calls * 1000}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
