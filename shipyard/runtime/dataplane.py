"""What the runtime does for each request, independent of HTTP.

The route modules (:mod:`~shipyard.runtime.azure_routes`, :mod:`~shipyard.runtime.v2_routes`,
:mod:`~shipyard.runtime.health`) only translate between HTTP and the calls below, so the
behaviour (model state, timeouts, V2 validation, error mapping) lives in one place.

User code (``init()``, ``run()``, ``close()``) always runs on the :class:`ScoringExecutor`'s
threads, never on the event loop, so a slow model cannot stall health checks or other
connections. Errors leave here as :class:`~shipyard.errors.ScoringError` subclasses carrying
their HTTP status; an unexpected exception from the model is logged with its traceback and turned
into a generic 500 that names the request id, so internals never leak to clients.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shipyard import __version__
from shipyard.errors import (
    BadRequestError,
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    ScoringError,
    ScoringTimeoutError,
)
from shipyard.runtime import v2codec
from shipyard.runtime.executor import Job, ScoringExecutor
from shipyard.runtime.settings import RuntimeSettings
from shipyard.scoring.base import InferRequest, ModelInfo, ModelMetadata, Scorer, ScoreRequest, ScoreResponse

logger = logging.getLogger(__name__)
T = TypeVar("T")

SERVER_NAME = "shipyard"
EXTENSIONS = ("binary_tensor_data",)
UNEXPECTED_SCORE_ERROR = "An unexpected error occurred in scoring script. Check the logs for more info."
SWAGGER_VERSIONS = {"2": "2", "2.0": "2", "3": "3", "3.0": "3", "3.1": "3.1"}


class ModelState(enum.Enum):
    """Where the model is in its life; readiness is ``READY`` only."""

    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass
class ScoreOutcome:
    """A ``/score`` answer plus how long ``run()`` itself took (``x-ms-run-fn-exec-ms``)."""

    response: ScoreResponse
    run_ms: float


def model_info(settings: RuntimeSettings) -> ModelInfo:
    """The :class:`ModelInfo` a scorer is built from; relative entry scripts resolve against app_root."""
    entry_script = settings.entry_script
    if entry_script is not None and not entry_script.is_absolute() and settings.app_root is not None:
        entry_script = settings.app_root / entry_script
    return ModelInfo(
        name=settings.resolved_model_name,
        version=settings.model_version,
        model_dir=Path(settings.model_dir),
        entry_script=entry_script,
        execution_providers=tuple(settings.execution_providers),
        strict_providers=settings.strict_providers,
    )


def _default_factory(info: ModelInfo) -> Scorer:
    from shipyard.scoring import create_scorer

    return create_scorer(info)


class DataPlane:
    """One model behind both protocols, with its state, its scoring threads and its timeout."""

    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        scorer_factory: Callable[[ModelInfo], Scorer] | None = None,
        observe_model_time: Callable[[str, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.info = model_info(settings)
        self.model_name = self.info.name
        self.model_version = self.info.version
        self.state = ModelState.LOADING
        self.load_error: BaseException | None = None
        self._factory = scorer_factory or _default_factory
        self._observe = observe_model_time or (lambda protocol, seconds: None)
        self._executor = ScoringExecutor(settings.scoring_threads)
        self._scorer: Scorer | None = None
        self._metadata: ModelMetadata | None = None
        self._metadata_doc: dict[str, Any] = {}
        self._swaggers: dict[str, dict[str, Any] | None] = {}
        self._deadlines = _Deadlines()

    # -- lifecycle -------------------------------------------------------------------------------
    async def load(self) -> None:
        """Build the scorer and run its ``load()`` (``init()``) on the scoring thread.

        Raises:
            ModelLoadError: the model could not be loaded; ``state`` is then ``FAILED``.
        """
        started = time.perf_counter()
        os.environ.setdefault("AZUREML_MODEL_DIR", str(self.info.model_dir.resolve()))
        try:
            self._scorer, self._metadata = await self._call(self._load_sync, None, timeout=None)
        except asyncio.CancelledError:  # shutting down while init() runs: not a load failure
            self.state = ModelState.STOPPED
            raise
        except BaseException as exc:
            self.state, self.load_error = ModelState.FAILED, exc
            if isinstance(exc, ModelLoadError):
                raise
            raise ModelLoadError(f"loading model '{self.model_name}' failed: {type(exc).__name__}: {exc}") from exc
        self._metadata_doc = self._describe(self._metadata)
        self.state = ModelState.READY
        logger.info("Model '%s' version %s ready in %.2f s", self.model_name, self.model_version,
                    time.perf_counter() - started)

    def _load_sync(self, _: None) -> tuple[Scorer, ModelMetadata]:
        scorer = self._factory(self.info)
        scorer.load()
        return scorer, scorer.metadata()

    async def close(self) -> None:
        """Call the scorer's ``close()`` (bounded by the request timeout) and stop the threads."""
        scorer, self._scorer = self._scorer, None
        self.state = ModelState.STOPPED
        if scorer is not None:
            try:
                await self._call(lambda _: scorer.close(), None, timeout=self.settings.request_timeout_s)
            except Exception:  # noqa: BLE001 - shutting down anyway
                logger.exception("close() of model '%s' failed", self.model_name)
        self._executor.shutdown(timeout=1.0)

    @property
    def ready(self) -> bool:
        return self.state is ModelState.READY

    def not_ready_error(self) -> ModelNotReadyError:
        """The 503 to answer while the model is not serving, saying why."""
        if self.state is ModelState.LOADING:
            return ModelNotReadyError(f"model '{self.model_name}' is still loading (init() is running); retry shortly")
        if self.state is ModelState.FAILED:
            return ModelNotReadyError(f"model '{self.model_name}' failed to load: {self.load_error}")
        return ModelNotReadyError(f"model '{self.model_name}' is shutting down")

    def _require_scorer(self) -> Scorer:
        if self.state is not ModelState.READY or self._scorer is None:
            raise self.not_ready_error()
        return self._scorer

    # -- Azure /score ----------------------------------------------------------------------------
    async def score(self, request: ScoreRequest) -> ScoreOutcome:
        """Run ``scorer.score`` on the scoring thread within the request timeout."""
        scorer = self._require_scorer()
        response, seconds = await self._timed(scorer.score, request, "score", request.request_id)
        return ScoreOutcome(response=response, run_ms=seconds * 1000.0)

    async def next_chunk(self, iterator: Any, request_id: str) -> bytes | None:
        """The next chunk of a streamed ``/score`` body, produced on the scoring thread; None at the end."""
        chunk = await self._call(_next_or_end, iterator, timeout=self.settings.request_timeout_s)
        if chunk is _END:
            return None
        return chunk.encode() if isinstance(chunk, str) else bytes(chunk)

    def swagger(self, version: str | None) -> dict[str, Any]:
        """The swagger document for ``GET /swagger.json?version=...``."""
        key = SWAGGER_VERSIONS.get(version or "2")
        if key is None:
            raise ModelNotFoundError(f"Swagger version {version!r} is not supported; use 2, 3 or 3.1")
        scorer = self._require_scorer()
        if key not in self._swaggers:
            self._swaggers[key] = scorer.swagger(key)
        document = self._swaggers[key]
        if document is None:
            raise ModelNotFoundError(
                f"model '{self.model_name}' has no swagger document (decorate run() with "
                "inference-schema's @input_schema/@output_schema, or add swagger2.json/swagger3.json)"
            )
        return document

    # -- Open Inference Protocol ----------------------------------------------------------------
    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}

    def check_model(self, name: str, version: str | None) -> None:
        """Raise 404 unless *name* (and *version*, when given) is the model served here."""
        if name != self.model_name:
            raise ModelNotFoundError(f"unknown model '{name}'; this server serves '{self.model_name}'")
        if version is not None and version != self.model_version:
            raise ModelNotFoundError(
                f"unknown version '{version}' of model '{name}'; this server serves version {self.model_version}"
            )

    def model_metadata(self, name: str, version: str | None) -> dict[str, Any]:
        self.check_model(name, version)
        self._require_scorer()
        return self._metadata_doc

    def model_ready(self, name: str, version: str | None) -> bool:
        self.check_model(name, version)
        return self.ready

    async def infer(
        self, name: str, version: str | None, body: bytes | bytearray, header_length: int | None, request_id: str
    ) -> tuple[bytes, int | None]:
        """Decode, validate, score and encode one V2 ``infer`` request.

        Returns:
            The response body and, when it carries binary tensors, the JSON header's length.
        """
        self.check_model(name, version)
        scorer = self._require_scorer()
        request, wants_binary = v2codec.decode_request(body, header_length)
        self._check_inputs(request)
        timeout = self.settings.request_timeout_s
        client_timeout = request.parameters.get("timeout")  # tritonclient: microseconds
        if isinstance(client_timeout, (int, float)) and not isinstance(client_timeout, bool) and client_timeout > 0:
            timeout = min(timeout, client_timeout / 1e6)
        response, _ = await self._timed(scorer.infer, request, "infer", request_id, timeout)
        if request.requested_outputs is not None:
            produced = {tensor.name: tensor for tensor in response.outputs}
            missing = [out for out in request.requested_outputs if out not in produced]
            if missing:
                raise ScoringError(f"model '{name}' did not produce the requested output(s) {', '.join(missing)}")
            response.outputs = [produced[out] for out in request.requested_outputs]
        if response.id is None:
            response.id = request.id
        return v2codec.encode_response(
            response, model_name=self.model_name, model_version=self.model_version, wants_binary=wants_binary
        )

    def _check_inputs(self, request: InferRequest) -> None:
        """Reject inputs the model's metadata rules out, naming the tensor (only when it declares them).

        Missing inputs are left to the scorer: an entry script's inputs may have defaults.
        """
        metadata = self._metadata
        if metadata is None:
            return
        if metadata.inputs:
            specs = {spec.name: spec for spec in metadata.inputs}
            for tensor in request.inputs:
                spec = specs.get(tensor.name)
                if spec is None:
                    raise BadRequestError(
                        f"unknown input '{tensor.name}'; model '{self.model_name}' takes {', '.join(specs)}"
                    )
                datatype = v2codec.datatype_of(tensor.data, tensor.name)
                if datatype != spec.datatype:
                    raise BadRequestError(
                        f"input '{tensor.name}' has datatype {datatype} but the model expects {spec.datatype}"
                    )
                shape = tensor.data.shape
                if len(shape) != len(spec.shape) or any(want not in (-1, got) for want, got in zip(spec.shape, shape)):
                    raise BadRequestError(
                        f"input '{tensor.name}' has shape {list(shape)} but the model expects {list(spec.shape)} "
                        "(-1 is any size)"
                    )
        if metadata.outputs and request.requested_outputs:
            known = {spec.name for spec in metadata.outputs}
            for name in request.requested_outputs:
                if name not in known:
                    raise BadRequestError(
                        f"unknown output '{name}'; model '{self.model_name}' produces {', '.join(sorted(known))}"
                    )

    def _describe(self, metadata: ModelMetadata) -> dict[str, Any]:
        def tensors(specs: tuple) -> list[dict[str, Any]]:
            return [{"name": s.name, "datatype": s.datatype, "shape": list(s.shape)} for s in specs]

        document = {
            "name": self.model_name,
            "versions": [self.model_version],
            "platform": metadata.platform,
            "inputs": tensors(metadata.inputs),
            "outputs": tensors(metadata.outputs),
        }
        if metadata.extra:  # the V2 spec's optional "parameters": execution providers, device...
            document["parameters"] = dict(metadata.extra)
        return document

    # -- running user code -----------------------------------------------------------------------
    async def _timed(
        self, fn: Callable[[Any], T], argument: Any, protocol: str, request_id: str, timeout: float | None = None
    ) -> tuple[T, float]:
        """Call the scorer; log and genericise unexpected errors; report the model time."""
        clock: list[float] = []

        def run(arg: Any) -> T:
            start = time.perf_counter()
            try:
                return fn(arg)
            finally:
                clock.append(time.perf_counter() - start)

        try:
            result = await self._call(run, argument, timeout=timeout or self.settings.request_timeout_s)
        except ScoringError:
            raise
        except Exception as exc:
            logger.error("%s failed for request %s", "run()" if protocol == "score" else "infer", request_id,
                         exc_info=exc)
            raise ScoringError(f"{UNEXPECTED_SCORE_ERROR} Request id: {request_id}") from exc
        finally:
            if clock:
                self._observe(protocol, clock[0])
        return result, clock[0]

    async def _call(self, fn: Callable[[Any], T], argument: Any, *, timeout: float | None) -> T:
        """Run ``fn(argument)`` on the scoring thread; 504 after *timeout* seconds (the thread runs on)."""
        job, waiter = self._executor.submit(fn, argument)
        timer = None
        if timeout == self.settings.request_timeout_s:
            self._deadlines.watch(job, timeout)
        elif timeout is not None:
            timer = job.loop.call_later(timeout, _expire, job, timeout)
        try:
            return await waiter
        except asyncio.CancelledError:
            job.cancelled = True
            raise
        finally:
            if timer is not None:
                timer.cancel()


class _Deadlines:
    """Expires jobs that all share one timeout, with one periodic check instead of a timer each.

    Jobs are watched in submission order with the same timeout, so their deadlines are ordered:
    each check pops finished and expired jobs from the front. A timeout fires at most
    ``CHECK_INTERVAL_S`` late, which does not matter at the scale of request timeouts.
    """

    CHECK_INTERVAL_S = 0.05

    def __init__(self) -> None:
        self._jobs: deque[tuple[float, Job, float]] = deque()
        self._check: asyncio.TimerHandle | None = None

    def watch(self, job: Job, timeout: float) -> None:
        self._jobs.append((job.loop.time() + timeout, job, timeout))
        if self._check is None:
            self._check = job.loop.call_later(min(self.CHECK_INTERVAL_S, timeout), self._sweep, job.loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now, jobs = loop.time(), self._jobs
        while jobs and (jobs[0][1].waiter.done() or jobs[0][0] <= now):
            _, job, timeout = jobs.popleft()
            _expire(job, timeout)
        if len(jobs) > 10_000:  # finished jobs queued behind a slow one: drop them
            self._jobs = jobs = deque(item for item in jobs if not item[1].waiter.done())
        self._check = loop.call_later(self.CHECK_INTERVAL_S, self._sweep, loop) if jobs else None


_END = object()


def _next_or_end(iterator: Any) -> Any:
    return next(iterator, _END)


def _expire(job: Job, timeout: float) -> None:
    if job.waiter.done():
        return
    job.cancelled = True  # only skips the call while it is still queued
    job.waiter.set_exception(
        ScoringTimeoutError(
            f"scoring did not finish within the {timeout:g} s request timeout (SHIPYARD_REQUEST_TIMEOUT_S "
            "or --request-timeout); the model may still be busy with it"
        )
    )
