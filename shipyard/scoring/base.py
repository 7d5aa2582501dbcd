"""The one interface every scorer implements, and the plain data it exchanges with the runtime.

A *scorer* is one loaded model. It knows how to answer an Azure-style ``/score`` request and an
Open Inference Protocol (KServe V2) ``infer`` request, but nothing about HTTP servers: the runtime
(:mod:`shipyard.runtime`) translates HTTP to these types and back. Keeping that line sharp lets the
same scorer run behind FastAPI, in a test, or in a benchmark, and lets new scorers (ONNX, PyTorch,
an entry script) be added without touching the runtime.

Scorers are synchronous: ``score.py`` code is synchronous, and the runtime decides which thread
runs it. Errors a client caused are raised as :class:`shipyard.errors.BadRequestError` (or another
:class:`shipyard.errors.ScoringError` with a ``status_code``); anything else is a 500.
"""

from __future__ import annotations

import abc
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime knows about the model before loading it."""

    name: str
    version: str
    model_dir: Path
    entry_script: Path | None = None
    # Accelerators: ONNX Runtime execution providers in order of preference ("CUDA", "TensorRT",
    # "OpenVINO", "ROCm", "VitisAI", "CPU"); empty means the scorer's default. With
    # ``strict_providers`` a scorer fails at load when the first choice is unavailable instead of
    # silently falling back to the CPU.
    execution_providers: tuple[str, ...] = ()
    strict_providers: bool = False
    # What an entry script sees as AZUREML_MODEL_DIR. None: ``model_dir``'s path. The runtime passes
    # the value it was given, verbatim (as azmlinfsrv does), or "" to leave the variable as the
    # environment has it (azmlinfsrv without --model_dir leaves it unset).
    azureml_model_dir: str | None = None
    # How error messages name a setting to the user: the flag they typed (``--model-dir``) when
    # ``shipyard serve`` was given one, else the environment variables (:data:`SETTING_NAMES`).
    setting_names: Mapping[str, str] = field(default_factory=dict)

    def named(self, setting: str) -> str:
        """The name of *setting* (``model_dir``, ``entry_script``) in a hint to the user."""
        return self.setting_names.get(setting) or SETTING_NAMES[setting]


SETTING_NAMES = {
    "model_dir": "SHIPYARD_MODEL_DIR (or AZUREML_MODEL_DIR)",
    "entry_script": "SHIPYARD_ENTRY_SCRIPT (or AZUREML_ENTRY_SCRIPT)",
}
"""The settings a load error may point at, named as the runtime reads them from the environment."""


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the V2 metadata endpoint reports it (``-1`` is a free dimension)."""

    name: str
    datatype: str  # V2 datatype: BOOL, UINT8..UINT64, INT8..INT64, FP16, FP32, FP64, BYTES
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelMetadata:
    """The model's self-description, reported by ``GET /v2/models/{name}``."""

    name: str
    versions: tuple[str, ...]
    platform: str
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ScoreRequest:
    """An Azure-style scoring request, transport-agnostic.

    ``body`` is the raw request body; ``query`` keeps repeated keys, in order. ``query_string`` is
    the query as the client sent it (``@rawhttp`` scripts read it; empty: rebuilt from ``query``), and
    ``scheme`` the URL scheme the client used.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    query: list[tuple[str, str]]
    body: bytes
    request_id: str = ""
    query_string: bytes = b""
    scheme: str = "http"  # https when a trusted proxy said so (FORWARDED_ALLOW_IPS), as gunicorn decides


@dataclass(slots=True)
class ScoreResponse:
    """What ``/score`` answers. ``body`` is bytes, or an iterable of byte chunks to stream."""

    body: bytes | Iterable[bytes]
    status_code: int = 200
    # a dict, or (name, value) pairs when a name repeats (Set-Cookie); Content-Type goes in media_type
    headers: dict[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    media_type: str = "application/json"  # empty: no Content-Type header
    run_function_failed: bool | None = False  # None: no x-ms-run-function-failed header below 500


@dataclass
class InferTensor:
    """One named tensor of a V2 request or response. ``parameters`` are passed through."""

    name: str
    data: np.ndarray  # BYTES tensors are numpy object arrays of ``bytes``
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    """A decoded V2 ``infer`` request: tensors are numpy arrays already checked against datatypes."""

    inputs: list[InferTensor]
    requested_outputs: list[str] | None = None  # None: every output
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferResponse:
    """A V2 ``infer`` response before encoding (JSON or binary tensor data is the runtime's choice)."""

    outputs: list[InferTensor]
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


class Scorer(abc.ABC):
    """One model, loaded once per worker process.

    Subclasses override :meth:`load`, :meth:`score`, :meth:`infer` and :meth:`metadata`.
    """

    def __init__(self, info: ModelInfo) -> None:
        self.info = info

    @abc.abstractmethod
    def load(self) -> None:
        """Load the model (for an entry script: import it and call ``init()``).

        Raises :class:`shipyard.errors.ModelLoadError` with a message that says what failed;
        the runtime then exits non-zero instead of serving half-ready.
        """

    @abc.abstractmethod
    def metadata(self) -> ModelMetadata:
        """Describe the model's name, versions, platform, inputs and outputs."""

    @abc.abstractmethod
    def score(self, request: ScoreRequest) -> ScoreResponse:
        """Answer an Azure ML style ``/score`` request."""

    @abc.abstractmethod
    def infer(self, request: InferRequest) -> InferResponse:
        """Answer an Open Inference Protocol ``infer`` request."""

    def swagger(self, version: str = "2") -> dict[str, Any] | None:
        """The ``/swagger.json`` document for this model, or ``None`` when it has no schema."""
        return None

    def close(self) -> None:
        """Release resources at shutdown. The default does nothing."""


@dataclass(slots=True)
class BatchItem:
    """One request's share of a batched model call, already checked: a bad request never gets here.

    ``inputs`` is what :meth:`BatchingScorer.run_batch` needs for this request (for tensor models
    its arrays by input name, rows along the first axis). Requests share a call only when their
    ``key`` is equal (same inputs, datatypes and trailing dimensions); ``None`` runs alone.
    """

    inputs: Any
    rows: int = 1
    key: Hashable | None = None


class BatchingScorer(Scorer):
    """A scorer that can answer several concurrent requests with one model call (dynamic batching).

    A request takes three steps: *prepare* (parse and check it, per request, so one bad request
    never fails its batch-mates), *run* (one call for many requests, on a scoring thread) and
    *answer* (this request's own rows). Unbatched calls take the same steps with a batch of one
    (:func:`run_alone`), so both paths answer alike.
    """

    def batching_unsupported(self) -> str | None:
        """Why this model cannot be batched (a fixed first dimension, no ``run_batch()``...), or ``None``."""
        return None

    @abc.abstractmethod
    def prepare_score(self, request: ScoreRequest) -> BatchItem | None:
        """Parse and check a ``/score`` request; ``None``: this request is answered by :meth:`score` instead."""

    @abc.abstractmethod
    def prepare_infer(self, request: InferRequest) -> BatchItem | None:
        """Parse and check a V2 request; ``None``: this request is answered by :meth:`infer` instead."""

    @abc.abstractmethod
    def run_batch(self, items: list[BatchItem]) -> list[Any]:
        """One model call for *items*: one result per item, in order.

        An exception instance in the list fails only its item; an exception raised fails the call,
        and the runtime then runs each item alone so that only the culprit fails.
        """

    @abc.abstractmethod
    def answer_score(self, request: ScoreRequest, result: Any) -> ScoreResponse:
        """The ``/score`` answer from this request's result."""

    @abc.abstractmethod
    def answer_infer(self, request: InferRequest, result: Any) -> InferResponse:
        """The V2 answer from this request's result."""


def run_alone(scorer: BatchingScorer, item: BatchItem) -> Any:
    """*item*'s result from a batch of one (its exception raised)."""
    (result,) = scorer.run_batch([item])
    if isinstance(result, BaseException):
        raise result
    return result
