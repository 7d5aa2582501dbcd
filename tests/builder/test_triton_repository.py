"""Exporting an ONNX model as a Triton model repository.

Triton Inference Server itself is not available here, so the generated ``config.pbtxt`` is parsed
back with Triton's own ``ModelConfig`` protobuf (shipped in the ``tritonclient`` wheel): a key or
enum Triton does not know fails the parse.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import tritonclient
from google.protobuf import text_format
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from shipyard.builder.triton_repository import TritonOptions, export_triton_repository
from shipyard.cli import app
from shipyard.errors import SpecError


def _load_triton_model_config_module():
    """Triton's model_config_pb2, loaded from the tritonclient wheel without its grpc extras."""
    path = Path(tritonclient.__file__).parent / "grpc" / "model_config_pb2.py"
    spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


model_config_pb2 = _load_triton_model_config_module()


def parse_config(model_root: Path):
    return text_format.Parse((model_root / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def write_linear_model(path: Path, batch_dim: str | int = "batch") -> Path:
    """y = x @ W for x of shape [batch, 4] and W of shape [4, 2]."""
    weights = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(4, 2), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["scores"])], "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch_dim, 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch_dim, 2])],
        initializer=[weights])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)
    return path


@pytest.fixture()
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    write_linear_model(folder / "linear.onnx")
    return folder


def test_batchable_model_gets_dynamic_batching_and_instance_groups(model_dir: Path, tmp_path: Path):
    options = TritonOptions(max_batch_size=16, preferred_batch_sizes=(4, 8), max_queue_delay_us=500,
                            instance_count=2, instance_kind="gpu", gpus=(0,))
    root = export_triton_repository(model_dir, tmp_path / "repo", name="iris", options=options)

    config = parse_config(root)
    assert root == tmp_path / "repo" / "iris"
    assert config.name == "iris"
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 16
    assert [(i.name, model_config_pb2.DataType.Name(i.data_type), list(i.dims)) for i in config.input] == [
        ("input", "TYPE_FP32", [4])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("scores", [2])]
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    (group,) = config.instance_group
    assert (group.count, group.kind, list(group.gpus)) == (2, group.KIND_GPU, [0])
    assert (root / "1" / "model.onnx").read_bytes() == (model_dir / "linear.onnx").read_bytes()


def test_the_exported_model_file_still_runs(model_dir: Path, tmp_path: Path):
    root = export_triton_repository(model_dir, tmp_path / "repo")
    session = onnxruntime.InferenceSession(str(root / "1" / "model.onnx"))
    (scores,) = session.run(None, {"input": np.ones((3, 4), dtype=np.float32)})
    assert scores.tolist() == [[12.0, 16.0]] * 3
    assert root.name == "linear"  # default name: the file's stem


def test_default_is_batch_8_on_one_cpu_instance(model_dir: Path, tmp_path: Path):
    config = parse_config(export_triton_repository(model_dir, tmp_path / "repo"))
    assert config.max_batch_size == 8
    assert config.HasField("dynamic_batching")
    assert config.instance_group[0].kind == config.instance_group[0].KIND_CPU


def test_fixed_first_dimension_is_exported_unbatched(tmp_path: Path):
    model = write_linear_model(tmp_path / "fixed.onnx", batch_dim=1)
    config = parse_config(export_triton_repository(model, tmp_path / "repo"))
    assert config.max_batch_size == 0
    assert not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [1, 4]


def test_batching_a_fixed_first_dimension_is_refused_with_the_tensor_names(tmp_path: Path):
    model = write_linear_model(tmp_path / "fixed.onnx", batch_dim=1)
    with pytest.raises(SpecError, match=r"'input', 'scores' have a fixed one.*--max-batch-size 0"):
        export_triton_repository(model, tmp_path / "repo", options=TritonOptions(max_batch_size=4))


def test_tensorrt_and_openvino_become_triton_accelerators(model_dir: Path, tmp_path: Path):
    options = TritonOptions(instance_kind="gpu", execution_providers=("TensorRT", "CUDA", "OpenVINO", "CPU"))
    config = parse_config(export_triton_repository(model_dir, tmp_path / "repo", options=options))
    accelerators = config.optimization.execution_accelerators
    assert [a.name for a in accelerators.gpu_execution_accelerator] == ["tensorrt"]
    assert [a.name for a in accelerators.cpu_execution_accelerator] == ["openvino"]


@pytest.mark.parametrize(("options", "message"), [
    (TritonOptions(preferred_batch_sizes=(32,)), "preferred batch size 32 must be between 1 and max_batch_size"),
    (TritonOptions(instance_count=0), "instance count must be 1 or more"),
    (TritonOptions(gpus=(0,)), "gpus can only be listed with --kind gpu"),
])
def test_bad_options_are_refused(model_dir: Path, tmp_path: Path, options: TritonOptions, message: str):
    with pytest.raises(SpecError, match=message):
        export_triton_repository(model_dir, tmp_path / "repo", options=options)


def test_a_folder_with_two_models_is_ambiguous(model_dir: Path, tmp_path: Path):
    write_linear_model(model_dir / "other.onnx")
    with pytest.raises(SpecError, match=r"2 \.onnx files \(linear.onnx, other.onnx\); pass the .onnx file"):
        export_triton_repository(model_dir, tmp_path / "repo")


def test_a_non_tensor_output_is_refused_with_the_zipmap_hint(tmp_path: Path):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    classifier = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    onx = skl2onnx.to_onnx(classifier, x[:1])  # ZipMap output: seq(map(int64, tensor(float)))
    path = tmp_path / "clf.onnx"
    path.write_bytes(onx.SerializeToString())
    with pytest.raises(SpecError, match=r"output 'output_probability' has type 'seq\(map.*zipmap"):
        export_triton_repository(path, tmp_path / "repo")


def test_cli_writes_the_repository(model_dir: Path, tmp_path: Path):
    result = CliRunner().invoke(app, [
        "export-triton", "--model-dir", str(model_dir), "--output", str(tmp_path / "repo"),
        "--name", "iris", "--max-batch-size", "4", "--preferred-batch-size", "2",
        "--preferred-batch-size", "4", "--max-queue-delay-us", "100", "--instances", "3", "--kind", "cpu"])
    assert result.exit_code == 0, result.output
    config = parse_config(tmp_path / "repo" / "iris")
    assert (config.max_batch_size, list(config.dynamic_batching.preferred_batch_size)) == (4, [2, 4])
    assert config.instance_group[0].count == 3
    assert str(tmp_path / "repo" / "iris") in result.output
