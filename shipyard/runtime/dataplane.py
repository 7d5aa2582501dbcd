"""What the runtime does for each request, independent of HTTP.

The route modules (:mod:`~shipyard.runtime.azure_routes`, :mod:`~shipyard.runtime.v2_routes`,
:mod:`~shipyard.runtime.health`) only translate between HTTP and the calls below, so the
behaviour (model state, timeouts, V2 validation, error mapping) lives in one place.

User code (``init()``, ``run()``, ``close()``) runs through a :class:`ModelRunner`: on a scoring
thread, so a slow model cannot stall health checks or other connections, or, for a ``run()``
that has proved to answer within a millisecond, inline on the event loop (``SHIPYARD_SCORING_MODE``).
A request whose body is larger than ``SHIPYARD_INLINE_BODY_BYTES`` never runs inline, whatever
``run()`` has proved: parsing it (``/score``), decoding and encoding its tensors (V2) and ``run()``
itself all happen on the scoring thread, because a fast ``run()`` on a small body says nothing
about the time a 30 MB body takes, and every millisecond on the event loop is a millisecond in
which health probes go unanswered. Errors leave here as :class:`~shipyard.errors.ScoringError`
subclasses carrying their HTTP status; an unexpected exception from the model is logged with its traceback and turned
into a generic 500 that names the request id, so internals never leak to clients.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from shipyard import __version__
from shipyard.errors import (
    ModelLoadError,
    ModelNotFoundError,
    ModelNotReadyError,
    ScoringError,
)
from shipyard.runtime import v2checks, v2codec
from shipyard.runtime.batching import BatchPolicy, DynamicBatcher
from shipyard.runtime.runner import ModelRunner
from shipyard.runtime.settings import RuntimeSettings
from shipyard.scoring.base import (
    BatchingScorer,
    InferRequest,
    InferResponse,
    ModelInfo,
    ModelMetadata,
    Scorer,
    ScoreRequest,
    ScoreResponse,
)

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


def model_info(settings: RuntimeSettings) -> ModelInfo:
    """The :class:`ModelInfo` a scorer is built from; relative entry scripts resolve against app_root."""
    entry_script = settings.entry_script
    if entry_script is not None and not entry_script.is_absolute() and settings.app_root is not None:
        entry_script = settings.app_root / entry_script
    return ModelInfo(
        name=settings.resolved_model_name,
        version=settings.model_version,
        model_dir=settings.model_path,
        azureml_model_dir=settings.model_dir or "",  # verbatim, or left unset like azmlinfsrv
        entry_script=entry_script,
        execution_providers=tuple(settings.execution_providers),
        strict_providers=settings.strict_providers,
        setting_names=settings.flag_names,
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
        observe_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.info = model_info(settings)
        self.model_name = self.info.name
        self.model_version = self.info.version
        self.state = ModelState.LOADING
        self.load_error: BaseException | None = None
        self._factory = scorer_factory or _default_factory
        observe = observe_model_time or (lambda protocol, seconds: None)
        self._observers = {protocol: functools.partial(observe, protocol) for protocol in ("score", "infer")}
        self._runner = ModelRunner(settings.scoring_threads, settings.request_timeout_s, settings.scoring_mode,
                                   settings.timeout_setting)
        self._inline_body_bytes = settings.inline_body_bytes
        self._scorer: Scorer | None = None
        self._metadata: ModelMetadata | None = None
        self._metadata_doc: dict[str, Any] = {}
        self._swaggers: dict[str, dict[str, Any] | None] = {}
        self._observe_batch = observe_batch
        self._batcher: DynamicBatcher | None = None  # set at load when batching is on and fits the model

    # -- lifecycle -------------------------------------------------------------------------------
    async def load(self) -> None:
        """Build the scorer and run its ``load()`` (``init()``): on the scoring thread (the loop in ``inline`` mode).

        Raises:
            ModelLoadError: the model could not be loaded; ``state`` is then ``FAILED``.
        """
        started = time.perf_counter()
        try:
            self._scorer, self._metadata = await self._runner.call(self._load_sync, None, timeout=None)
        except asyncio.CancelledError:  # shutting down while init() runs: not a load failure
            self.state = ModelState.STOPPED
            raise
        except BaseException as exc:
            self.state, self.load_error = ModelState.FAILED, exc
            if isinstance(exc, ModelLoadError):
                raise
            raise ModelLoadError(f"loading model '{self.model_name}' failed: {type(exc).__name__}: {exc}") from exc
        self._metadata_doc = v2checks.describe(self._metadata, self.model_name, self.model_version)
        self._batcher = self._make_batcher(self._scorer)
        self.state = ModelState.READY
        logger.info("Model '%s' version %s ready in %.2f s", self.model_name, self.model_version,
                    time.perf_counter() - started)

    def _load_sync(self, _: None) -> tuple[Scorer, ModelMetadata]:
        scorer = self._factory(self.info)
        scorer.load()
        return scorer, scorer.metadata()

    def _make_batcher(self, scorer: Scorer) -> DynamicBatcher | None:
        """The dynamic batcher when the settings ask for one and the model can be batched (else a log line why not)."""
        policy = BatchPolicy.from_settings(self.settings)
        if policy is None:
            return None
        reason = scorer.batching_unsupported() if isinstance(scorer, BatchingScorer) else \
            f"{type(scorer).__name__} does not batch"
        if reason:
            logger.warning("Batching is off for model '%s': %s", self.model_name, reason)
            return None
        logger.info("Batching requests to model '%s': up to %d rows, queue delay %d us%s", self.model_name,
                    policy.max_batch_size, round(policy.max_queue_delay_s * 1e6),
                    f", preferred sizes {sorted(policy.preferred_batch_sizes)}" if policy.preferred_batch_sizes else "")
        return DynamicBatcher(scorer.run_batch, policy, self._runner, instances=self.settings.scoring_threads,
                              timeout=self.settings.request_timeout_s, observe_batch=self._observe_batch)

    async def close(self) -> None:
        """Call the scorer's ``close()`` (bounded by the request timeout) and stop the threads."""
        scorer, self._scorer = self._scorer, None
        self.state = ModelState.STOPPED
        if scorer is not None:
            try:
                await self._runner.call(lambda _: scorer.close(), None, timeout=self.settings.request_timeout_s)
            except Exception:
                logger.exception("close() of model '%s' failed", self.model_name)
        self._runner.shutdown(timeout=1.0)

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
    async def score(self, request: ScoreRequest) -> tuple[ScoreResponse, float]:
        """Run ``scorer.score`` (on the scoring thread or inline, as the runner decides) within the request timeout.

        Returns:
            The response and the milliseconds ``run()`` took (azmlinfsrv's ``x-ms-run-fn-exec-ms``).
        """
        scorer = self._require_scorer()
        timeout = self.settings.request_timeout_s
        if len(request.body) > self._inline_body_bytes:  # parsing it is work too: off the loop, unbatched
            response, seconds = await self._call(scorer.score, request, "score", request.request_id, timeout,
                                                 hot=False)
        elif self._batcher is not None and (
                batched := await self._batched(scorer, "score", request, request.request_id, timeout)) is not None:
            return batched[0], batched[1] * 1000.0
        elif self._runner.inline_ready():  # straight on the loop: no coroutine, no thread hop
            response, seconds = self._call_inline(scorer.score, request, "score", request.request_id, timeout)
        else:
            response, seconds = await self._call(scorer.score, request, "score", request.request_id, timeout)
        return response, seconds * 1000.0

    async def off_loop(self, fn: Callable[[Any], T], argument: Any) -> T:
        """``fn(argument)`` on the scoring thread (CPU-heavy work of the runtime's own: decoding a large
        body, encoding a large answer), within the request timeout; inline only in ``inline`` mode."""
        return await self._runner.call(fn, argument, timeout=self.settings.request_timeout_s)

    def is_large(self, size: int) -> bool:
        """Whether *size* bytes of body are too many to handle on the event loop."""
        return size > self._inline_body_bytes

    async def next_chunk(self, iterator: Any, request_id: str) -> bytes | None:
        """The next chunk of a streamed ``/score`` body, produced on the scoring thread; None at the end."""
        chunk = await self._runner.call(_next_or_end, iterator, timeout=self.settings.request_timeout_s)
        if chunk is _END:
            return None
        return chunk.encode() if isinstance(chunk, str) else bytes(chunk)

    def swagger(self, version: str | None) -> dict[str, Any]:
        """The swagger document for ``GET /swagger.json?version=...``."""
        version = "2" if version is None else version  # ?version= (empty) is not 2: azmlinfsrv's 404
        key = SWAGGER_VERSIONS.get(version)
        if key is None:  # azmlinfsrv's words, listing the versions this script has
            raise ModelNotFoundError(
                f"Swagger version [{version}] is not valid. Supported versions: [{self._swagger_versions()}].")
        document = self._swagger(key)
        if document is None and not self._swagger_versions():  # an ONNX model, say: no document at all
            raise ModelNotFoundError(
                f"model '{self.model_name}' has no swagger document (decorate run() with "
                "inference-schema's @input_schema/@output_schema, or add swagger2.json/swagger3.json)"
            )
        if document is None:
            raise ModelNotFoundError(
                f"Swagger version [{version}] is not supported for the scoring script. "
                f"Supported swagger versions: [{self._swagger_versions()}].")
        return document

    def _swagger(self, key: str) -> dict[str, Any] | None:
        if key not in self._swaggers:
            self._swaggers[key] = self._require_scorer().swagger(key)
        return self._swaggers[key]

    def _swagger_versions(self) -> str:
        return ", ".join(key for key in ("2", "3", "3.1") if self._swagger(key) is not None)

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
        self._require_scorer()
        large = len(body) > self._inline_body_bytes
        decode = (body, header_length)
        request, wants_binary = await self.off_loop(_decode, decode) if large else _decode(decode)
        response = await self.infer_request(request, request_id, large=large)
        encode = functools.partial(v2codec.encode_response, model_name=self.model_name,
                                   model_version=self.model_version, wants_binary=wants_binary)
        if large or self.is_large(sum(getattr(tensor.data, "nbytes", 0) for tensor in response.outputs)):
            return await self.off_loop(encode, response)
        return encode(response)

    async def infer_request(
        self, request: InferRequest, request_id: str, *, deadline_s: float | None = None, large: bool = False
    ) -> InferResponse:
        """Validate, score and complete a decoded ``infer`` request (either protocol's).

        The caller has checked the model name and version with :meth:`check_model`.
        *deadline_s* (a gRPC client's deadline) shortens the request timeout, as the
        ``timeout`` request parameter does. *large*: the request came in a body over
        ``SHIPYARD_INLINE_BODY_BYTES``, so the model is called on the scoring thread, never inline.
        """
        scorer = self._require_scorer()
        timeout = self._infer_timeout(request, deadline_s)
        batched = None
        if self._batcher is not None and not large:
            batched = await self._batched(scorer, "infer", request, request_id, timeout)
        if batched is not None:
            response = batched[0]
        elif large:  # decoded off the loop, scored there too, alone
            response, _ = await self._call(scorer.infer, request, "infer", request_id, timeout, hot=False)
        elif self._runner.inline_ready():
            response, _ = self._call_inline(scorer.infer, request, "infer", request_id, timeout)
        else:
            response, _ = await self._call(scorer.infer, request, "infer", request_id, timeout)
        return self._complete(request, response)

    def infers_inline(self, size: int) -> bool:
        """Whether an ``infer`` request of *size* bytes would be scored right here on the event loop
        (``run()`` proved fast, no batcher, a small body), so :meth:`infer_inline` may answer it."""
        return self._batcher is None and size <= self._inline_body_bytes and self._runner.inline_ready()

    def infer_inline(self, request: InferRequest, request_id: str, *, deadline_s: float | None = None) -> InferResponse:
        """:meth:`infer_request` without a coroutine, for a request :meth:`infers_inline` accepted:
        the gRPC transport answers such calls in the step that read them."""
        scorer = self._require_scorer()
        timeout = self._infer_timeout(request, deadline_s)
        response, _ = self._call_inline(scorer.infer, request, "infer", request_id, timeout)
        return self._complete(request, response)

    def _infer_timeout(self, request: InferRequest, deadline_s: float | None) -> float:
        """Check *request* against the model's metadata; the seconds it may take."""
        v2checks.check_request(request, self._metadata, self.model_name)
        timeout = self.settings.request_timeout_s
        if deadline_s is not None:
            timeout = min(timeout, max(deadline_s, 0.001))
        client_timeout = request.parameters.get("timeout")  # tritonclient: microseconds
        if isinstance(client_timeout, (int, float)) and not isinstance(client_timeout, bool) and client_timeout > 0:
            timeout = min(timeout, client_timeout / 1e6)
        return timeout

    def _complete(self, request: InferRequest, response: InferResponse) -> InferResponse:
        """Keep only the requested outputs, in the order asked; carry the request's id."""
        if request.requested_outputs is not None:
            produced = {tensor.name: tensor for tensor in response.outputs}
            missing = [out for out in request.requested_outputs if out not in produced]
            if missing:
                raise ScoringError(
                    f"model '{self.model_name}' did not produce the requested output(s) {', '.join(missing)}"
                )
            response.outputs = [produced[out] for out in request.requested_outputs]
        if response.id is None:
            response.id = request.id
        return response

    # -- running user code -----------------------------------------------------------------------
    def _call_inline(
        self, fn: Callable[[Any], T], argument: Any, protocol: str, request_id: str, timeout: float
    ) -> tuple[T, float]:
        """Call the scorer on the event loop (the runner said it may); errors as in :meth:`_call`."""
        try:
            return self._runner.call_inline(fn, argument, timeout, observe=self._observers[protocol])
        except ScoringError:
            raise
        except Exception as exc:
            raise self._unexpected(exc, protocol, request_id) from exc

    async def _call(
        self, fn: Callable[[Any], T], argument: Any, protocol: str, request_id: str, timeout: float,
        *, hot: bool = True,
    ) -> tuple[T, float]:
        """Call the scorer where the runner decides; log and genericise unexpected errors; report the model time.

        *hot*: the runner may run it inline and learns from its time; ``False`` for large bodies,
        which stay on the thread and do not teach the runner that ``run()`` is slow.
        """
        clock: list[float] = []
        try:
            result = await self._runner.call(fn, argument, timeout=timeout, hot=hot, observe=clock.append)
        except ScoringError:
            raise
        except Exception as exc:
            raise self._unexpected(exc, protocol, request_id) from exc
        finally:
            if clock:
                self._observers[protocol](clock[0])
        return result, clock[0]

    async def _batched(
        self, scorer: Scorer, protocol: str, request: Any, request_id: str, timeout: float
    ) -> tuple[Any, float] | None:
        """Answer through the batcher: prepare here, run in a batch, answer here; ``None``: not batchable.

        Returns:
            The scorer's response and the seconds its batch's model call took.
        """
        assert isinstance(scorer, BatchingScorer) and self._batcher is not None
        try:
            if protocol == "score":
                item = scorer.prepare_score(request)
            else:
                item = scorer.prepare_infer(request)
            if item is None:
                return None
            result, seconds = await self._batcher.run(item, timeout)
            self._observers[protocol](seconds)
            if protocol == "score":
                return scorer.answer_score(request, result), seconds
            return scorer.answer_infer(request, result), seconds
        except ScoringError:
            raise
        except Exception as exc:
            raise self._unexpected(exc, protocol, request_id) from exc

    def _unexpected(self, exc: Exception, protocol: str, request_id: str) -> ScoringError:
        """Log a model error with its traceback; the client gets a 500 naming only the request id."""
        logger.error("%s failed for request %s", "run()" if protocol == "score" else "infer", request_id,
                     exc_info=exc)
        if protocol == "score":  # azmlinfsrv's words exactly; the id goes in the body's request_id
            return ScoringError(UNEXPECTED_SCORE_ERROR)
        return ScoringError(f"{UNEXPECTED_SCORE_ERROR} Request id: {request_id}")


_END = object()


def _decode(body_and_header_length: tuple[bytes | bytearray, int | None]) -> tuple[InferRequest, Any]:
    """:func:`v2codec.decode_request` taking one argument, as :meth:`DataPlane.off_loop` passes it."""
    return v2codec.decode_request(*body_and_header_length)


def _next_or_end(iterator: Any) -> Any:
    return next(iterator, _END)
