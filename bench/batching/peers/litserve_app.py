"""LitServe server: onnxruntime behind LitAPI batching (max_batch_size, batch_timeout)."""

import os
import sys

import litserve as ls
import numpy as np
import onnxruntime as ort


class OnnxAPI(ls.LitAPI):
    def setup(self, device):
        self.session = ort.InferenceSession(os.environ["BENCH_MODEL_FILE"], providers=["CPUExecutionProvider"])

    def decode_request(self, request):
        return np.asarray(request["x"], dtype=np.float32)

    def batch(self, inputs):
        return np.concatenate(inputs)

    def predict(self, x):
        return self.session.run(None, {"x": x})[0]

    def unbatch(self, output):
        return list(output[:, None, :])

    def encode_response(self, output):
        return {"y": output.tolist()}


if __name__ == "__main__":
    api = OnnxAPI(max_batch_size=int(os.environ.get("BENCH_MAX_BATCH", "64")),
                  batch_timeout=float(os.environ.get("BENCH_BATCH_TIMEOUT_S", "0.002")))
    ls.LitServer(api, accelerator="cpu", workers_per_device=1).run(
        host="127.0.0.1", port=int(sys.argv[1]), num_api_servers=1, generate_client_file=False, log_level="warning")
