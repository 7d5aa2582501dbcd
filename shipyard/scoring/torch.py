"""Serve the one PyTorch model file of a model folder: TorchScript (``.pt``) or ``torch.export`` (``.pt2``).

Neither format needs the model's Python class at serving time, which is what lets a model run in
an image without the training code: TorchScript archives come from ``torch.jit.save`` and load with
``torch.jit.load``; exported programs come from ``torch.export.save`` and load with
``torch.export.load``. (A pickled ``torch.save(model)`` needs its class; serve it with a score.py.)

The model runs on CUDA when the machine has it, else on the CPU; the spec's execution providers
(``CUDA``, ``ROCm``, ``CPU``) change the order, and strict providers make a missing first choice a
load error instead of a silent CPU fallback. The device is logged and reported in the metadata.

Inputs and outputs are read from the exported program, or declared in a sidecar JSON file next to
the model (``<stem>.json`` or ``model.json``)::

    {"inputs":  [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
     "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]}

Without one, a TorchScript model takes its ``forward`` argument names, accepts any shape, reads
JSON numbers as FP32, and names outputs ``output__0``, ``output__1``... (Triton's convention).
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.extras import install_hint
from shipyard.errors import BadRequestError, ModelLoadError
from shipyard.scoring import json_codec
from shipyard.scoring.base import (
    BatchingScorer,
    BatchItem,
    InferRequest,
    InferResponse,
    InferTensor,
    ModelInfo,
    ModelMetadata,
    ScoreRequest,
    ScoreResponse,
    TensorSpec,
    run_alone,
)
from shipyard.scoring.batches import Outputs, run_stacked, tensor_item
from shipyard.scoring.bodies import json_document, named_inputs
from shipyard.scoring.datatypes import (
    DATATYPE_TO_NUMPY,
    datatype_to_numpy,
    numpy_to_datatype,
)

logger = logging.getLogger(__name__)

TORCHSCRIPT_PLATFORM = "pytorch_libtorch"  # Triton's platform name for TorchScript models
EXPORT_PLATFORM = "pytorch"
_TORCH_DEVICES = {"CUDA": "cuda", "ROCm": "cuda", "CPU": "cpu"}  # ROCm builds of torch use "cuda"


@dataclass(frozen=True)
class _Declared:
    """One input or output: name, V2 datatype (``None``: not declared) and shape (``None``: any)."""

    name: str
    datatype: str | None = None
    shape: tuple[int, ...] | None = None

    def spec(self) -> TensorSpec:
        return TensorSpec(self.name, self.datatype or "FP32", self.shape or ())


def choose_device(requested: tuple[str, ...], strict: bool, cuda_available: bool, rocm: bool) -> str:
    """``"cuda"`` or ``"cpu"``: the first requested device this machine has (default: CUDA if present).

    Raises:
        ModelLoadError: an unknown provider name, or (strict) an unavailable first choice.
    """
    from shipyard.scoring.onnx.providers import provider_name, short_name

    if not requested:
        return "cuda" if cuda_available else "cpu"
    names = [short_name(provider_name(name)) for name in requested]
    have = {"CPU": True, "CUDA": cuda_available and not rocm, "ROCm": cuda_available and rocm}
    for position, name in enumerate(names):
        if name not in _TORCH_DEVICES:
            logger.warning("Execution provider %s is an ONNX Runtime provider; PyTorch skips it", name)
        elif have[name]:
            return _TORCH_DEVICES[name]
        if strict and position == 0:
            raise ModelLoadError(
                f"execution provider {name} is not available to PyTorch here (torch.cuda.is_available() is "
                f"{cuda_available}); install a CUDA/ROCm build of torch and the GPU driver, or turn strict "
                "providers off")
    return "cpu"


def _read_sidecar(path: Path) -> tuple[list[_Declared], list[_Declared]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: cannot read the model's tensor declarations: {exc}") from exc
    if not isinstance(document, dict):
        raise ModelLoadError(f'{path}: expected {{"inputs": [...], "outputs": [...]}}')

    def parse(key: str) -> list[_Declared]:
        found = []
        for index, item in enumerate(document.get(key) or []):
            where = f"{path}: {key}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise ModelLoadError(f'{where}: expected {{"name": ..., "datatype": ..., "shape": [...]}}')
            datatype = item.get("datatype")
            if datatype is not None and datatype not in DATATYPE_TO_NUMPY or datatype == "BYTES":
                valid = ", ".join(d for d in DATATYPE_TO_NUMPY if d != "BYTES")
                raise ModelLoadError(f"{where}.datatype: {datatype!r} is not a tensor datatype PyTorch "
                                     f"takes (valid: {valid})")
            shape = item.get("shape")
            if shape is not None and not (isinstance(shape, list) and all(isinstance(d, int) for d in shape)):
                raise ModelLoadError(f"{where}.shape: expected a list of integers (-1 for any size), got {shape!r}")
            found.append(_Declared(item["name"], datatype, tuple(shape) if shape is not None else None))
        return found

    return parse("inputs"), parse("outputs")


class TorchScorer(BatchingScorer):
    """A model folder holding exactly one ``.pt`` (TorchScript) or ``.pt2`` (``torch.export``) file."""

    def __init__(self, info: ModelInfo) -> None:
        super().__init__(info)
        self.model: Any = None
        self.device = "cpu"
        self.inputs: list[_Declared] = []
        self.outputs: list[_Declared] = []
        self.model_file: Path | None = None
        self._torch: Any = None

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the file onto the chosen device; later calls do nothing."""
        if self.model is not None:
            return
        try:
            import torch
        except ImportError as exc:
            raise ModelLoadError(f"serving .pt/.pt2 files needs PyTorch: {install_hint('torch')} ({exc})") from exc
        from shipyard.scoring.factory import model_files

        path = self._model_file(model_files(Path(self.info.model_dir)))
        self.device = choose_device(self.info.execution_providers, self.info.strict_providers,
                                    torch.cuda.is_available(), torch.version.hip is not None)
        try:
            if path.suffix.lower() == ".pt2":
                program = torch.export.load(str(path))
                inputs, outputs = self._exported_signature(program)
                model = program.module().to(self.device)
            else:
                with warnings.catch_warnings():  # deprecated since PyTorch 2.10, still what Triton's libtorch loads
                    warnings.simplefilter("ignore", DeprecationWarning)
                    model = torch.jit.load(str(path), map_location=self.device)
                model.eval()
                inputs = [_Declared(arg.name) for arg in model.forward.schema.arguments[1:]]
                outputs = []
        except Exception as exc:  # torch raises RuntimeError, pickle errors, zipfile errors...
            hint = ("; .pt files must be TorchScript archives (torch.jit.save(torch.jit.script(model), path)); "
                    "for a pickled torch.save(model) write a score.py") if path.suffix.lower() == ".pt" else ""
            raise ModelLoadError(f"PyTorch {torch.__version__} cannot load {path}: "
                                 f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}{hint}") from exc
        sidecar = next((p for p in (path.with_suffix(".json"), path.parent / "model.json") if p.is_file()), None)
        if sidecar is not None:
            declared_in, declared_out = _read_sidecar(sidecar)
            inputs = declared_in or inputs
            outputs = declared_out or outputs
        self._torch, self.model, self.model_file = torch, model, path
        self.inputs, self.outputs = inputs, outputs
        logger.info("Loaded %s with PyTorch %s on %s", path, torch.__version__, self._device_name())

    def _model_file(self, files: list[Path]) -> Path:
        if len(files) != 1 or files[0].suffix.lower() not in (".pt", ".pt2"):
            raise ModelLoadError(f"TorchScorer needs exactly one .pt or .pt2 file in {self.info.model_dir}, "
                                 f"found {', '.join(map(str, files)) or 'none'}")
        return files[0]

    @staticmethod
    def _exported_signature(program: Any) -> tuple[list[_Declared], list[_Declared]]:
        """Names, datatypes and shapes recorded in an exported program (symbolic sizes become -1)."""
        signature = program.graph_signature
        user_inputs = set(signature.user_inputs)

        def describe(name: str, value: Any) -> _Declared:
            shape = tuple(dim if isinstance(dim, int) else -1 for dim in value.shape)
            try:
                datatype = numpy_to_datatype(np.dtype(str(value.dtype).removeprefix("torch.")))
            except TypeError:  # bfloat16, complex...: no V2 datatype; leave it undeclared
                datatype = None
            return _Declared(name, datatype, shape)

        inputs, outputs = [], []
        for node in program.graph.nodes:
            if node.op == "placeholder" and node.name in user_inputs and "val" in node.meta:
                inputs.append(describe(node.name, node.meta["val"]))
            elif node.op == "output":
                results = node.args[0] if isinstance(node.args[0], (list, tuple)) else [node.args[0]]
                outputs = [describe(f"output__{i}", r.meta["val"]) for i, r in enumerate(results)
                           if hasattr(r, "meta") and "val" in r.meta]
        return inputs, outputs

    def _device_name(self) -> str:
        if self.device == "cuda":
            return f"cuda:{self._torch.cuda.current_device()} ({self._torch.cuda.get_device_name()})"
        return "cpu"

    # -- requests: prepare (per request), run (one call for one or many), answer ---------------------
    def infer(self, request: InferRequest) -> InferResponse:
        """Run the model on V2 tensors (fed positionally in the declared input order)."""
        return self.answer_infer(request, run_alone(self, self.prepare_infer(request)))

    def score(self, request: ScoreRequest) -> ScoreResponse:
        """JSON in (``{"data": ...}``, ``{"inputs": {...}}`` or ``{"<input>": ...}``), ``{output: list}`` out."""
        return self.answer_score(request, run_alone(self, self.prepare_score(request)))

    def prepare_infer(self, request: InferRequest) -> BatchItem:
        known = {spec.name: spec for spec in self.inputs}
        arrays = {}
        for tensor in request.inputs:
            spec = known.get(tensor.name)
            if spec is None:
                raise BadRequestError(f"unknown input {tensor.name!r}; the model's inputs are {list(known)}")
            if tensor.data.dtype == object:
                raise BadRequestError(f"input {tensor.name!r}: BYTES tensors cannot be fed to a PyTorch model")
            arrays[tensor.name] = tensor.data
        return tensor_item(self._in_order(arrays))

    def prepare_score(self, request: ScoreRequest) -> BatchItem:
        values = named_inputs(json_document(request), [spec.name for spec in self.inputs])
        specs = {spec.name: spec for spec in self.inputs}
        arrays = {}
        for name, value in values.items():
            dtype = datatype_to_numpy(specs[name].datatype or "FP32")
            try:
                arrays[name] = np.asarray(value, dtype=dtype)
            except (ValueError, TypeError) as exc:
                raise BadRequestError(f"input {name!r}: cannot read the value as {specs[name].datatype or 'FP32'} "
                                      f"numbers: {exc}") from None
        return tensor_item(self._in_order(arrays))

    def run_batch(self, items: list[BatchItem]) -> list[Outputs]:
        """One forward pass for all items' rows; each item gets every output's rows of its own."""
        return run_stacked(items, self._forward)

    def answer_infer(self, request: InferRequest, result: Outputs) -> InferResponse:
        outputs = [InferTensor(name, value) for name, value in result.items()]
        if request.requested_outputs is not None:
            unknown = [name for name in request.requested_outputs if name not in result]
            if unknown:
                raise BadRequestError(f"unknown output(s) {unknown}; the model's outputs are {list(result)}")
            outputs = [InferTensor(name, result[name]) for name in request.requested_outputs]
        return InferResponse(outputs=outputs, id=request.id)

    def answer_score(self, request: ScoreRequest, result: Outputs) -> ScoreResponse:
        return ScoreResponse(body=json_codec.dumps(result))

    def batching_unsupported(self) -> str | None:
        fixed = [spec.name for spec in self.inputs if spec.shape is not None and (not spec.shape or spec.shape[0] != -1)]
        if fixed:
            return f"input(s) {fixed} are declared without a free first (batch) dimension"
        return None

    def _in_order(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The arrays in the declared input order (the model takes them positionally)."""
        missing = [spec.name for spec in self.inputs if spec.name not in arrays]
        if missing:
            raise BadRequestError(f"missing input(s) {missing}; the model needs {[s.name for s in self.inputs]}")
        return {spec.name: arrays[spec.name] for spec in self.inputs}

    def _forward(self, arrays: dict[str, np.ndarray]) -> Outputs:
        torch = self._torch
        # writable: a V2 binary tensor is a read-only view of the request body, and models may write to inputs
        args = [torch.from_numpy(np.require(array, requirements=("C", "W"))).to(self.device) for array in arrays.values()]
        try:
            with torch.inference_mode():
                result = self.model(*args)
        except (RuntimeError, TypeError, ValueError, IndexError) as exc:  # shape/dtype mismatches
            raise BadRequestError(f"the model rejected the inputs: {str(exc).strip().splitlines()[0]}") from None
        return self._outputs(result)

    def _outputs(self, result: Any) -> Outputs:
        if isinstance(result, dict):
            named = list(result.items())
        else:
            values = list(result) if isinstance(result, (list, tuple)) else [result]
            names = [spec.name for spec in self.outputs] if len(self.outputs) == len(values) else \
                [f"output__{i}" for i in range(len(values))]
            named = list(zip(names, values))
        outputs = {}
        for name, value in named:
            if not hasattr(value, "detach"):
                raise BadRequestError(f"output {name!r} is a {type(value).__name__}, not a tensor")
            outputs[name] = value.detach().cpu().numpy()
        return outputs

    # -- description -----------------------------------------------------------------------------
    def metadata(self) -> ModelMetadata:
        """Declared inputs/outputs (all or nothing: a partial declaration would reject valid calls)."""
        exported = self.model_file is not None and self.model_file.suffix.lower() == ".pt2"
        complete_in = all(s.datatype and s.shape is not None for s in self.inputs)
        complete_out = all(s.datatype and s.shape is not None for s in self.outputs)
        extra: dict[str, Any] = {"device": self._device_name() if self._torch else self.device,
                                 "execution_providers": ["CUDA" if self.device == "cuda" else "CPU"],
                                 "format": "torch.export" if exported else "torchscript"}
        if self._torch is not None:
            extra["torch_version"] = self._torch.__version__
            extra["model_file"] = self.model_file.name if self.model_file else None
        return ModelMetadata(
            name=self.info.name,
            versions=(self.info.version,),
            platform=EXPORT_PLATFORM if exported else TORCHSCRIPT_PLATFORM,
            inputs=tuple(s.spec() for s in self.inputs) if complete_in else (),
            outputs=tuple(s.spec() for s in self.outputs) if complete_out else (),
            extra=extra,
        )

    def close(self) -> None:
        self.model = None
        if self._torch is not None and self.device == "cuda":
            self._torch.cuda.empty_cache()
