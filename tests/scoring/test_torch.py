"""Serving PyTorch models (TorchScript ``.pt`` and ``torch.export`` ``.pt2``) behind the real runtime.

Runs on the CPU here; ``bench/gpu_check.py`` repeats the V2 path on CUDA on a GPU machine.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import tritonclient.http as triton

from shipyard.errors import ModelLoadError
from shipyard.scoring import ModelInfo, load_scorer
from shipyard.scoring.torch import choose_device
from tests.scoring.conftest import score_request

X = [[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 1.0]]


class Linear(torch.nn.Module):
    """y = x @ W.T + b with fixed weights, so answers are known exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0]]))
            self.linear.bias.copy_(torch.tensor([0.5, -0.5]))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)


class TwoHeads(torch.nn.Module):
    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"total": features.sum(dim=1), "largest": features.max(dim=1).values}


def save_torchscript(module: torch.nn.Module, path: Path) -> None:
    """torch.jit.save(torch.jit.script(module)); PyTorch 2.10+ flags TorchScript as deprecated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), path)


def expected(x: list[list[float]]) -> list[list[float]]:
    return [[row[0] + 0.5, row[1] + row[2] + row[3] - 0.5] for row in x]


@pytest.fixture(scope="module")
def torchscript_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("torchscript")
    save_torchscript(Linear().eval(), folder / "model.pt")
    return folder


@pytest.fixture(scope="module")
def exported_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exported")
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(Linear().eval(), (torch.zeros(2, 4),), dynamic_shapes={"features": {0: batch}})
    torch.export.save(program, folder / "linear.pt2")
    return folder


def infer(server, name: str, x: np.ndarray, input_name: str = "features") -> triton.InferResult:
    client = triton.InferenceServerClient(server.address)
    tensor = triton.InferInput(input_name, list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)  # binary tensor data, tritonclient's default
    return client.infer(name, [tensor])


def test_torchscript_scores_on_score_and_v2(start_runtime, torchscript_dir: Path):
    server = start_runtime(model_dir=torchscript_dir, env={"SHIPYARD_MODEL_NAME": "linear"})

    answer = httpx.post(server.url + "/score", json={"data": X})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"output__0": expected(X)}

    result = infer(server, "linear", np.asarray(X, dtype=np.float32))
    assert result.as_numpy("output__0").tolist() == expected(X)
    metadata = triton.InferenceServerClient(server.address).get_model_metadata("linear")
    assert metadata["platform"] == "pytorch_libtorch"
    assert metadata["parameters"]["device"] == "cpu"  # cuda:0 (<GPU name>) on a GPU machine
    assert metadata["parameters"]["format"] == "torchscript"
    assert "on cpu" in server.log()  # and the device is logged at load


def test_exported_program_declares_its_tensors_and_the_runtime_checks_them(start_runtime, exported_dir: Path):
    server = start_runtime(model_dir=exported_dir, env={"SHIPYARD_MODEL_NAME": "linear"})
    client = triton.InferenceServerClient(server.address)

    metadata = client.get_model_metadata("linear")
    assert metadata["platform"] == "pytorch"
    assert metadata["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    assert metadata["outputs"] == [{"name": "output__0", "datatype": "FP32", "shape": [-1, 2]}]

    x = np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32)
    np.testing.assert_allclose(infer(server, "linear", x).as_numpy("output__0"), np.asarray(expected(x.tolist())),
                               rtol=1e-6, atol=1e-6)

    wrong = httpx.post(server.url + "/v2/models/linear/infer", json={"inputs": [
        {"name": "features", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]})
    assert wrong.status_code == 400
    assert "expects [-1, 4]" in wrong.json()["error"]


def test_sidecar_names_inputs_and_outputs(tmp_path: Path):
    save_torchscript(Linear().eval(), tmp_path / "iris.pt")
    (tmp_path / "iris.json").write_text(json.dumps({
        "inputs": [{"name": "measurements", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, 2]}]}))
    scorer = load_scorer(ModelInfo(name="iris", version="1", model_dir=tmp_path))

    body = json.loads(scorer.score(score_request(json.dumps({"measurements": X}))).body)
    assert body == {"logits": expected(X)}
    metadata = scorer.metadata()
    assert [(t.name, t.datatype, t.shape) for t in metadata.inputs] == [("measurements", "FP32", (-1, 4))]
    assert [t.name for t in metadata.outputs] == ["logits"]
    assert metadata.extra["device"] == "cpu" and metadata.extra["format"] == "torchscript"


def test_dict_outputs_keep_their_names(tmp_path: Path):
    save_torchscript(TwoHeads(), tmp_path / "heads.pt")
    scorer = load_scorer(ModelInfo(name="heads", version="1", model_dir=tmp_path))
    body = json.loads(scorer.score(score_request(json.dumps({"data": X}))).body)
    assert body == {"total": [10.0, 1.0], "largest": [4.0, 1.0]}


def test_strict_cuda_on_a_cpu_machine_fails_at_start(start_runtime, torchscript_dir: Path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    server = start_runtime(model_dir=torchscript_dir, wait=False,
                           env={"SHIPYARD_EXECUTION_PROVIDERS": "CUDA,CPU", "SHIPYARD_STRICT_PROVIDERS": "true"})
    assert server.wait_exit() == 3
    assert "execution provider CUDA is not available to PyTorch" in server.log()


def test_a_pickled_module_is_refused_with_the_torchscript_hint(tmp_path: Path):
    torch.save(Linear(), tmp_path / "model.pt")  # needs the class to load: not servable without code
    with pytest.raises(ModelLoadError, match=r"must be TorchScript archives .*torch\.jit\.save"):
        load_scorer(ModelInfo(name="m", version="1", model_dir=tmp_path))


def test_a_bad_sidecar_names_the_field(tmp_path: Path, torchscript_dir: Path):
    (tmp_path / "model.pt").write_bytes((torchscript_dir / "model.pt").read_bytes())
    (tmp_path / "model.json").write_text(json.dumps({"inputs": [{"name": "features", "datatype": "FLOAT"}]}))
    with pytest.raises(ModelLoadError, match=r"model.json: inputs\[0\]\.datatype: 'FLOAT' is not a tensor datatype"):
        load_scorer(ModelInfo(name="m", version="1", model_dir=tmp_path))


@pytest.mark.parametrize(("requested", "strict", "cuda", "device"), [
    ((), False, True, "cuda"),
    ((), False, False, "cpu"),
    (("CUDA", "CPU"), False, False, "cpu"),
    (("CPU", "CUDA"), False, True, "cpu"),
    (("TensorRT", "CUDA"), False, True, "cuda"),  # an ONNX Runtime-only provider is skipped
])
def test_device_follows_the_execution_provider_order(requested, strict, cuda, device):
    assert choose_device(requested, strict, cuda_available=cuda, rocm=False) == device


def test_strict_first_choice_must_exist():
    with pytest.raises(ModelLoadError, match="execution provider CUDA is not available"):
        choose_device(("CUDA", "CPU"), True, cuda_available=False, rocm=False)


def test_a_batched_torchscript_server_gives_each_concurrent_client_its_own_rows(start_runtime, torchscript_dir: Path):
    from concurrent.futures import ThreadPoolExecutor

    server = start_runtime(model_dir=torchscript_dir, env={"SHIPYARD_MODEL_NAME": "linear",
                                                             "SHIPYARD_MAX_BATCH_SIZE": "8",
                                                             "SHIPYARD_MAX_QUEUE_DELAY_US": "10000000"})

    def call(number: int) -> tuple[list[list[float]], object]:
        x = [[float(number), number + 1.0, 0.0, 2.0 * number]]
        if number % 2:  # half over V2 binary tensors (a read-only view of the body), half over /score
            return x, infer(server, "linear", np.asarray(x, dtype=np.float32)).as_numpy("output__0").tolist()
        return x, httpx.post(server.url + "/score", json={"data": x}, timeout=30).json()["output__0"]

    with ThreadPoolExecutor(8) as pool:  # exactly one batch of 8: it runs once full
        answers = list(pool.map(call, range(8)))
    for x, got in answers:
        np.testing.assert_allclose(got, expected(x), rtol=1e-6)
    metrics = httpx.get(server.url + "/metrics").text
    assert 'shipyard_batch_size_count{model="linear"} 1.0' in metrics
    assert 'shipyard_batch_size_sum{model="linear"} 8.0' in metrics
