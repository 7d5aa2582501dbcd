"""Export an ONNX model as a Triton Inference Server model repository.

Users who outgrow one container per model move to Triton. This module writes what Triton needs for
the *same* ``.onnx`` file Shipyard serves, so that move needs no rework::

    <repo>/<name>/config.pbtxt
    <repo>/<name>/<version>/model.onnx

The ``config.pbtxt`` (protobuf text format of Triton's ``ModelConfig``) carries the inputs and
outputs read from the model, ``max_batch_size``, ``dynamic_batching`` (preferred batch sizes and
queue delay), ``instance_group`` (how many copies, on the CPU or GPUs) and, when the spec asks for
TensorRT or OpenVINO, the matching ONNX Runtime execution accelerator.

Triton batches along a leading dimension it owns: with ``max_batch_size > 0`` every input and
output must start with a free (``-1``) dimension, and ``dims`` list the rest. A model whose first
dimension is fixed cannot be batched by Triton; it is exported with ``max_batch_size: 0``.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shipyard.extras import install_hint
from shipyard.errors import SpecError

logger = logging.getLogger(__name__)

InstanceKind = Literal["cpu", "gpu"]

DEFAULT_MAX_BATCH_SIZE = 8
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

# ONNX Runtime's element type names -> Triton's DataType enum names.
_ORT_TO_TRITON = {
    "tensor(float)": "TYPE_FP32",
    "tensor(double)": "TYPE_FP64",
    "tensor(float16)": "TYPE_FP16",
    "tensor(bfloat16)": "TYPE_BF16",
    "tensor(bool)": "TYPE_BOOL",
    "tensor(int8)": "TYPE_INT8",
    "tensor(int16)": "TYPE_INT16",
    "tensor(int32)": "TYPE_INT32",
    "tensor(int64)": "TYPE_INT64",
    "tensor(uint8)": "TYPE_UINT8",
    "tensor(uint16)": "TYPE_UINT16",
    "tensor(uint32)": "TYPE_UINT32",
    "tensor(uint64)": "TYPE_UINT64",
    "tensor(string)": "TYPE_STRING",
}

# Spec execution providers that Triton's ONNX Runtime backend can use as accelerators.
_GPU_ACCELERATORS = {"TensorRT": "tensorrt"}
_CPU_ACCELERATORS = {"OpenVINO": "openvino"}


@dataclass(frozen=True)
class TritonTensor:
    """One input or output as Triton declares it (``dims`` exclude the batch dimension)."""

    name: str
    data_type: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class TritonOptions:
    """The serving choices that go into ``config.pbtxt``.

    ``max_batch_size=None`` means: 8 when the model can be batched, else 0. Dynamic batching is
    switched on whenever ``max_batch_size > 0``.
    """

    max_batch_size: int | None = None
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_delay_us: int = 0
    instance_count: int = 1
    instance_kind: InstanceKind = "cpu"
    gpus: tuple[int, ...] = ()
    execution_providers: tuple[str, ...] = ()


def read_onnx_signature(model_path: Path) -> tuple[list[TritonTensor], list[TritonTensor]]:
    """Read the inputs and outputs of an ONNX model with ONNX Runtime, dims as in the model.

    Raises:
        SpecError: the file is not a loadable ONNX model, or a tensor's type has no Triton
            equivalent (for example the ``seq(map(...))`` output of a scikit-learn classifier
            converted with ZipMap; convert it with ``options={'zipmap': False}``).
    """
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SpecError("exporting a Triton repository reads the model with onnxruntime; "
                        f"install it with: {install_hint('onnx')}") from exc
    try:
        session = onnxruntime.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise SpecError(f"not a loadable ONNX model: {exc}", file=str(model_path)) from exc

    def convert(nodes: Sequence[object], role: str) -> list[TritonTensor]:
        tensors = []
        for node in nodes:
            name, ort_type, shape = node.name, node.type, node.shape  # type: ignore[attr-defined]
            if ort_type not in _ORT_TO_TRITON:
                raise SpecError(
                    f"{role} '{name}' has type {ort_type!r}, which Triton cannot serve; "
                    f"supported: plain tensors ({', '.join(sorted(_ORT_TO_TRITON))}). For a "
                    "scikit-learn classifier, convert with options={'zipmap': False}.",
                    file=str(model_path))
            dims = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in shape)
            tensors.append(TritonTensor(name, _ORT_TO_TRITON[ort_type], dims))
        return tensors

    return convert(session.get_inputs(), "input"), convert(session.get_outputs(), "output")


def _batch_size(inputs: Sequence[TritonTensor], outputs: Sequence[TritonTensor],
                requested: int | None, model_path: Path) -> int:
    """Decide ``max_batch_size``: Triton needs a free leading dimension on every tensor."""
    fixed = [t.name for t in (*inputs, *outputs) if not t.dims or t.dims[0] != -1]
    if requested is None:
        return 0 if fixed else DEFAULT_MAX_BATCH_SIZE
    if requested < 0:
        raise SpecError(f"max_batch_size must be 0 or more, got {requested}", field="max_batch_size")
    if requested > 0 and fixed:
        raise SpecError(
            f"max_batch_size={requested} needs a free first (batch) dimension on every input and "
            f"output, but {', '.join(repr(n) for n in fixed)} have a fixed one; use "
            "--max-batch-size 0, or re-export the model with a dynamic batch axis",
            file=str(model_path), field="max_batch_size")
    return requested


def _quote(text: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _tensor_block(key: str, tensors: Sequence[TritonTensor], batched: bool) -> list[str]:
    lines = [f"{key} ["]
    for index, tensor in enumerate(tensors):
        dims = tensor.dims[1:] if batched else tensor.dims
        # A scalar tensor (no dims left) is declared as [1] and reshaped to [] for the model.
        reshape = "" if dims else " reshape: { shape: [ ] }"
        shown = dims or (1,)
        comma = "," if index < len(tensors) - 1 else ""
        lines.append(f"  {{ name: {_quote(tensor.name)} data_type: {tensor.data_type} "
                     f"dims: [ {', '.join(str(d) for d in shown)} ]{reshape} }}{comma}")
    lines.append("]")
    return lines


def render_config_pbtxt(name: str, inputs: Sequence[TritonTensor], outputs: Sequence[TritonTensor],
                        max_batch_size: int, options: TritonOptions) -> str:
    """The ``config.pbtxt`` text for an ONNX model (pure function: no files, no ONNX Runtime)."""
    batched = max_batch_size > 0
    lines = ["# Generated by shipyard export-triton. Triton ModelConfig, protobuf text format.",
             f"name: {_quote(name)}", 'platform: "onnxruntime_onnx"',
             f"max_batch_size: {max_batch_size}"]
    lines += _tensor_block("input", inputs, batched)
    lines += _tensor_block("output", outputs, batched)
    kind = "KIND_GPU" if options.instance_kind == "gpu" else "KIND_CPU"
    gpus = f" gpus: [ {', '.join(str(g) for g in options.gpus)} ]" if options.gpus else ""
    lines.append(f"instance_group [ {{ count: {options.instance_count} kind: {kind}{gpus} }} ]")
    if batched:
        lines.append("dynamic_batching {")
        if options.preferred_batch_sizes:
            sizes = ", ".join(str(s) for s in options.preferred_batch_sizes)
            lines.append(f"  preferred_batch_size: [ {sizes} ]")
        lines.append(f"  max_queue_delay_microseconds: {options.max_queue_delay_us}")
        lines.append("}")
    lines += _accelerators(options)
    return "\n".join(lines) + "\n"


def _accelerators(options: TritonOptions) -> list[str]:
    """Map the spec's execution providers onto Triton's ONNX Runtime accelerators."""
    gpu = [_GPU_ACCELERATORS[p] for p in options.execution_providers if p in _GPU_ACCELERATORS]
    cpu = [_CPU_ACCELERATORS[p] for p in options.execution_providers if p in _CPU_ACCELERATORS]
    if options.instance_kind != "gpu":
        gpu = []
    if not gpu and not cpu:
        return []
    lines = ["optimization { execution_accelerators {"]
    if gpu:
        lines.append(f"  gpu_execution_accelerator: [ {{ name: {_quote(gpu[0])} }} ]")
    if cpu:
        lines.append(f"  cpu_execution_accelerator: [ {{ name: {_quote(cpu[0])} }} ]")
    lines.append("} }")
    return lines


def _validate(name: str, version: int, options: TritonOptions, max_batch_size: int) -> None:
    if not _NAME_RE.match(name):
        raise SpecError(f"model name {name!r} may only hold letters, digits, '_', '.' and '-' "
                        "(it becomes a folder and a URL path segment)", field="name")
    if version < 1:
        raise SpecError(f"Triton model versions are positive integers, got {version}", field="version")
    if options.instance_count < 1:
        raise SpecError(f"instance count must be 1 or more, got {options.instance_count}",
                        field="instances")
    if options.instance_kind not in ("cpu", "gpu"):
        raise SpecError(f"instance kind {options.instance_kind!r} is not one of: cpu, gpu", field="kind")
    if options.gpus and options.instance_kind != "gpu":
        raise SpecError("gpus can only be listed with --kind gpu", field="gpus")
    if options.max_queue_delay_us < 0:
        raise SpecError("max queue delay must be 0 or more microseconds", field="max_queue_delay_us")
    for size in options.preferred_batch_sizes:
        if not 1 <= size <= max(max_batch_size, 0):
            raise SpecError(f"preferred batch size {size} must be between 1 and max_batch_size "
                            f"({max_batch_size})", field="preferred_batch_size")


def find_onnx_model(model_dir_or_file: Path) -> Path:
    """The ``.onnx`` file to export: the path itself, or the only ``.onnx`` file in a folder.

    Raises:
        SpecError: the path does not exist, or the folder holds no or several ``.onnx`` files.
    """
    path = Path(model_dir_or_file)
    if path.is_file():
        return path
    if not path.is_dir():
        raise SpecError("no such model file or folder", file=str(path))
    found = sorted(path.rglob("*.onnx"))
    if len(found) != 1:
        what = "no .onnx file" if not found else f"{len(found)} .onnx files ({', '.join(p.name for p in found)})"
        raise SpecError(f"found {what}; pass the .onnx file itself", file=str(path))
    return found[0]


def export_triton_repository(model: Path, repository: Path, *, name: str | None = None,
                             version: int = 1, options: TritonOptions | None = None) -> Path:
    """Write ``<repository>/<name>/config.pbtxt`` and ``<repository>/<name>/<version>/model.onnx``.

    Args:
        model: the ``.onnx`` file, or a model folder holding exactly one.
        repository: the Triton model repository root (created if missing; other models in it are
            left alone).
        name: the model's name in Triton (default: the ``.onnx`` file's stem).
        version: the version folder to write.
        options: batching, instances and accelerators.

    Returns:
        The model's folder inside the repository.

    Raises:
        SpecError: the model or an option is unusable (the message says which and why).
    """
    options = options or TritonOptions()
    model_path = find_onnx_model(model)
    name = name or model_path.stem
    inputs, outputs = read_onnx_signature(model_path)
    max_batch_size = _batch_size(inputs, outputs, options.max_batch_size, model_path)
    _validate(name, version, options, max_batch_size)
    text = render_config_pbtxt(name, inputs, outputs, max_batch_size, options)

    model_root = Path(repository) / name
    version_dir = model_root / str(version)
    version_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model_path, version_dir / "model.onnx")
    (model_root / "config.pbtxt").write_text(text, encoding="utf-8")
    logger.info("wrote Triton model %s version %d to %s (max_batch_size=%d)",
                name, version, model_root, max_batch_size)
    return model_root
