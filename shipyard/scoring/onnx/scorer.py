"""Serve the one ``.onnx`` file of a model folder with ONNX Runtime.

One ``InferenceSession`` per worker; its ``run`` is thread-safe, so the runtime may call
:meth:`OnnxScorer.infer` from several threads. Tensors are checked against the model before they
reach onnxruntime, so a client gets a 400 that names the input instead of an opaque runtime error.
"""

from __future__ import annotations

import logging
import os
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
    run_alone,
)
from shipyard.scoring.batches import Outputs, run_stacked, tensor_item
from shipyard.scoring.bodies import json_document, named_inputs
from shipyard.scoring.datatypes import to_bytes_tensor, to_str_tensor
from shipyard.scoring.onnx.providers import choose_providers, short_name
from shipyard.scoring.onnx.tensors import OnnxTensor

logger = logging.getLogger(__name__)

PLATFORM = "onnxruntime_onnx"  # Triton's platform name for the same thing


def session_options(ort: Any) -> Any:
    """ONNX Runtime's session options, with the intra-op pool sized to the CPUs this process may use.

    ONNX Runtime sizes its pool by the machine's physical cores, not by the CPUs the process is
    allowed to run on (``taskset``, ``docker --cpuset-cpus``, Kubernetes' static CPU manager). Its
    threads spin while they wait, so two of them on one allowed CPU fight each other: measured with
    the 21M-parameter MLP pinned to one of two CPUs, 24.5 ms a 1-row call with one thread against
    39 ms with the default two. Unrestricted processes keep ONNX Runtime's default.
    """
    options = ort.SessionOptions()
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if allowed is not None and allowed < (os.cpu_count() or allowed):
        options.intra_op_num_threads = allowed
    return options


class OnnxScorer(BatchingScorer):
    """A model folder holding exactly one ``.onnx`` file."""

    def __init__(self, info: ModelInfo) -> None:
        super().__init__(info)
        self.session: Any = None
        self.providers: list[str] = []
        self.inputs: dict[str, OnnxTensor] = {}
        self.outputs: dict[str, OnnxTensor] = {}
        self._all_outputs: list[str] = []
        self._plain_outputs = True  # every output is a tensor: no conversion after run
        self._invalid_argument: type[Exception] = ValueError

    def load(self) -> None:
        """Create the session on the preferred execution providers; later calls do nothing."""
        if self.session is not None:
            return
        try:
            import onnxruntime as ort
            from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument
        except ImportError as exc:
            raise ModelLoadError(f"serving .onnx files needs onnxruntime: {install_hint('onnx')} ({exc})") from exc
        from shipyard.scoring.factory import model_files

        onnx_files = [path for path in model_files(Path(self.info.model_dir)) if path.suffix.lower() == ".onnx"]
        path = self._model_file(onnx_files)
        providers = choose_providers(self.info.execution_providers, ort.get_available_providers(),
                                     strict=self.info.strict_providers)
        try:
            session = ort.InferenceSession(str(path), session_options(ort), providers=providers)
        except Exception as exc:
            raise ModelLoadError(
                f"onnxruntime {ort.__version__} cannot load {path}: {str(exc).strip().splitlines()[0]}"
            ) from exc
        in_use = list(session.get_providers())
        if self.info.strict_providers and in_use[0] != providers[0]:
            raise ModelLoadError(
                f"execution provider {short_name(providers[0])} failed to start (onnxruntime fell back to "
                f"{', '.join(in_use)}); check the GPU driver and CUDA/cuDNN libraries, or turn strict providers off"
            )
        self._invalid_argument = InvalidArgument
        self.model_file, self.providers, self.session = path, in_use, session
        self.inputs = {node.name: OnnxTensor.from_node(node) for node in session.get_inputs()}
        self.outputs = {node.name: OnnxTensor.from_node(node) for node in session.get_outputs()}
        self._all_outputs = list(self.outputs)
        self._plain_outputs = all(spec.is_tensor and not spec.is_string for spec in self.outputs.values())
        logger.info("Loaded %s with onnxruntime %s on %s", path, ort.__version__, ", ".join(in_use))

    def _model_file(self, files: list[Path]) -> Path:
        if len(files) != 1:
            raise ModelLoadError(
                f"OnnxScorer needs exactly one .onnx file in {self.info.model_dir}, found "
                f"{', '.join(map(str, files)) or 'none'}"
            )
        return files[0]

    # -- requests: prepare (per request), run (one call for one or many), answer ---------------------
    def infer(self, request: InferRequest) -> InferResponse:
        """Run the model on V2 tensors, checking names, datatypes and shapes first."""
        return self.answer_infer(request, run_alone(self, self.prepare_infer(request)))

    def score(self, request: ScoreRequest) -> ScoreResponse:
        """JSON in (``{"data": ...}``, ``{"inputs": {...}}`` or ``{"<input>": ...}``), ``{output: list}`` out."""
        return self.answer_score(request, run_alone(self, self.prepare_score(request)))

    def prepare_infer(self, request: InferRequest) -> BatchItem:
        """Check the V2 tensors against the model's inputs (and the requested outputs' names)."""
        feed: dict[str, np.ndarray] = {}
        inputs = self.inputs
        for tensor in request.inputs:
            spec = inputs.get(tensor.name)
            if spec is None:
                raise BadRequestError(f"unknown input {tensor.name!r}; the model's inputs are {list(inputs)}")
            data = tensor.data
            if spec.is_string:
                if data.dtype != object:
                    raise BadRequestError(f"input {spec.name!r}: expected datatype BYTES, got {data.dtype}")
                data = to_str_tensor(data)
            else:
                spec.check_datatype(data)
            spec.check_shape(data.shape)
            if spec.name in feed:
                raise BadRequestError(f"input {spec.name!r} was sent more than once")
            feed[spec.name] = data
        self._check_complete(feed)
        self._output_names(request.requested_outputs)
        return tensor_item(feed)

    def prepare_score(self, request: ScoreRequest) -> BatchItem:
        """Read the ``/score`` JSON document into the model's input arrays."""
        document = json_document(request)
        inputs = self.inputs
        feed = {name: inputs[name].from_json(value) for name, value in named_inputs(document, list(inputs)).items()}
        self._check_complete(feed)
        return tensor_item(feed)

    def run_batch(self, items: list[BatchItem]) -> list[Outputs]:
        """One ``session.run`` for all items' rows; each item gets every output's rows of its own."""
        return run_stacked(items, self._session_run)

    def answer_infer(self, request: InferRequest, result: Outputs) -> InferResponse:
        names = self._output_names(request.requested_outputs)
        if self._plain_outputs:
            outputs = [InferTensor(name, result[name]) for name in names]
        else:
            outputs = [InferTensor(name, self._to_tensor(self.outputs[name], result[name])) for name in names]
        return InferResponse(outputs=outputs, id=request.id)

    def answer_score(self, request: ScoreRequest, result: Outputs) -> ScoreResponse:
        return ScoreResponse(body=json_codec.dumps(result))

    def batching_unsupported(self) -> str | None:
        fixed = [spec.name for spec in self.inputs.values() if not spec.shape or spec.shape[0] != -1]
        if fixed:
            return f"input(s) {fixed} have no free first (batch) dimension in the model"
        return None

    def _output_names(self, requested: list[str] | None) -> list[str]:
        if requested is None:
            return self._all_outputs
        unknown = [name for name in requested if name not in self.outputs]
        if unknown:
            raise BadRequestError(f"unknown output(s) {unknown}; the model's outputs are {self._all_outputs}")
        return requested

    def _check_complete(self, feed: dict[str, np.ndarray]) -> None:
        if len(feed) != len(self.inputs):  # names were checked already, so only missing ones differ
            missing = [name for name in self.inputs if name not in feed]
            raise BadRequestError(f"missing input(s) {missing}; the model needs {list(self.inputs)}")

    def _session_run(self, feed: dict[str, np.ndarray]) -> Outputs:
        names = self._all_outputs
        try:
            return dict(zip(names, self.session.run(names, feed), strict=True))
        except self._invalid_argument as exc:  # e.g. two inputs whose free dimensions disagree
            raise BadRequestError(f"onnxruntime rejected the inputs: {str(exc).strip()}") from None

    @staticmethod
    def _to_tensor(spec: OnnxTensor, value: Any) -> np.ndarray:
        if spec.is_zipmap:  # [{label: probability}, ...] -> [rows, classes] in label order
            if not value:
                return np.zeros((0, 0), dtype=np.float32)
            labels = list(value[0])
            return np.asarray([[row[label] for label in labels] for row in value], dtype=np.float32)
        if spec.is_string:
            return to_bytes_tensor(value)
        if spec.is_tensor:
            return value
        out = np.empty(len(value), dtype=object)
        out[:] = [json_codec.dumps(item) for item in value]
        return out

    # -- description -----------------------------------------------------------------------------
    def metadata(self) -> ModelMetadata:
        """Inputs/outputs as declared by the model, plus the providers in use."""
        extra: dict[str, Any] = {"execution_providers": [short_name(p) for p in self.providers]}
        if self.session is not None:
            meta = self.session.get_modelmeta()
            extra.update(model_file=self.model_file.name, producer=meta.producer_name,
                         graph=meta.graph_name, custom_metadata=dict(meta.custom_metadata_map))
        zipmaps = [spec.name for spec in self.outputs.values() if spec.is_zipmap]
        if zipmaps:
            extra["zipmap_outputs"] = zipmaps  # lists of {label: probability} in /score, FP32 [N, classes] in V2
        return ModelMetadata(
            name=self.info.name,
            versions=(self.info.version,),
            platform=PLATFORM,
            inputs=tuple(spec.spec() for spec in self.inputs.values()),
            outputs=tuple(spec.spec() for spec in self.outputs.values()),
            extra=extra,
        )

    def close(self) -> None:
        self.session = None

