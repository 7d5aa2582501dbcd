"""``azureml.monitoring.ModelDataCollector``: model inputs and predictions as JSON lines, off the request path.

AKS scoring scripts collect what the model saw and said::

    from azureml.monitoring import ModelDataCollector
    inputs_dc = ModelDataCollector("best_model", designation="inputs", feature_names=["a", "b"])
    correlations = inputs_dc.collect(data)          # in run()

Azure shipped the rows to blob storage when ``collect_model_data`` was on, and did nothing
otherwise. Here the switch is ``SHIPYARD_DATA_COLLECTION_DIR`` (``shipyard serve
--data-collection-dir``): unset, ``collect`` does nothing and returns None, as the real class
does when collection is off. Set, every call appends one JSON object (time, request id,
correlation id, model, designation, feature names, data) to
``<dir>/<model_name>/<model_version>/<designation>/<YYYY>/<MM>/<DD>/<collection>.jsonl``.

A request must never wait for, or fail because of, collection: ``collect`` only converts the data
to plain lists (so later changes to the caller's arrays do not leak in) and puts the record on a
bounded queue; one background thread writes. When the queue is full the record is dropped and
counted (:func:`dropped_records`, with a warning in the log); a conversion or write error is
logged, never raised. The signatures are azureml-monitoring 0.1.0a21's.
"""

from __future__ import annotations

import atexit
import datetime
import json
import logging
import os
import queue
import threading
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DIR_VARIABLE = "SHIPYARD_DATA_COLLECTION_DIR"
QUEUE_SIZE = 10_000  # records waiting for the writer; beyond it records are dropped, never waited for
DESIGNATIONS = ("inputs", "predictions", "labels", "signals", "general")
_ZERO_ID = "00000000-0000-0000-0000-000000000000"  # azureml-monitoring's request id outside a request


class ModelDataCollector:
    """Collects one model's data for one designation (``inputs``, ``predictions``, ``labels``...)."""

    AML_DC_CORRELATION_HEADER = "$aml_dc_correlation_id"
    AML_DC_SCORING_TIMESTAMP_HEADER = "$aml_dc_scoring_timestamp"
    AML_DC_BOUNDARY_HEADER = "$aml_dc_boundary"
    AML_WORKSPACE_HEADER = "$aml_workspace"
    AML_SERVICE_NAME_HEADER = "$aml_service_name"
    AML_MODEL_NAME_HEADER = "$aml_model_name"
    AML_MODEL_VERSION_HEADER = "$aml_model_version"
    AML_REQUEST_ID_HEADER = "$aml_request_id"

    def __init__(self, model_name: str, designation: str = "default", feature_names: list[str] | None = None,
                 workspace: str = "default/default/default", webservice_name: str = "default",
                 model_version: str = "default", collection_name: str = "default") -> None:
        self.model_name = model_name
        self.model_version = model_version
        self.workspace = workspace.lower()
        self.service_name = os.environ.get("SERVICE_NAME", webservice_name) if webservice_name == "default" \
            else webservice_name
        self.feature_names = list(feature_names) if feature_names is not None else None
        self._designation = "general" if designation == "default" else designation
        self._folder: Path | None = None
        directory = os.environ.get(DIR_VARIABLE)
        if self._designation not in DESIGNATIONS:
            logger.warning("ModelDataCollector(%r): designation %r is not one of default, %s; nothing is collected",
                           model_name, designation, ", ".join(DESIGNATIONS))
            return
        if not directory:
            logger.info("Data collection is off for model %r (%s); set %s or pass --data-collection-dir to "
                        "collect", model_name, self._designation, DIR_VARIABLE)
            return
        self._folder = Path(directory) / _safe(model_name) / _safe(str(model_version)) / self._designation
        # azureml-monitoring names the file after the designation, except for signals and general
        self._file_stem = _safe(collection_name if self._designation in ("signals", "general") else self._designation)

    @property
    def enabled(self) -> bool:
        """Whether ``collect`` writes anything."""
        return self._folder is not None

    def collect(self, input_data: Any, user_correlation_id: str = "") -> dict[str, Any] | None:
        """Queue *input_data* (list, numpy array, pandas DataFrame or any JSON-able value) for writing.

        Returns:
            For the ``inputs`` designation, the correlation headers and values (request id,
            timestamp, correlation id...) to pass to :meth:`add_correlations` of a predictions
            collector, as azureml-monitoring does; otherwise None. None when collection is off.
        """
        if self._folder is None:
            return None
        try:
            correlations = self._correlations(user_correlation_id)
            record = {
                "time": correlations[self.AML_DC_SCORING_TIMESTAMP_HEADER],
                "request_id": correlations[self.AML_REQUEST_ID_HEADER],
                "correlation_id": correlations[self.AML_DC_CORRELATION_HEADER],
                "model_name": self.model_name,
                "model_version": self.model_version,
                "designation": self._designation,
                "feature_names": self.feature_names,
                "data": _plain(input_data),
            }
            _writer().submit(self._path(), record)
        except Exception:  # collection must never fail the request
            logger.exception("ModelDataCollector(%r).collect failed; the record was not collected", self.model_name)
            return None
        return correlations if self._designation == "inputs" else None

    def add_correlations(self, input_data: Any, correlations: dict[str, Any] | None) -> Any:
        """Attach *correlations* (from an inputs collector's :meth:`collect`) to *input_data*.

        Lists get the values appended, pandas DataFrames get one column per header, as
        azureml-monitoring does; other data comes back as ``{"data": ..., "correlations": ...}``.
        """
        if correlations is None:
            return input_data
        if isinstance(input_data, list):
            return input_data + list(correlations.values())
        if type(input_data).__name__ == "DataFrame" and hasattr(input_data, "assign"):
            return input_data.assign(**{key: value for key, value in correlations.items()})
        return {"data": _plain(input_data), "correlations": correlations}

    def _correlations(self, user_correlation_id: str) -> dict[str, Any]:
        generated = str(uuid.uuid4())
        return {
            self.AML_DC_SCORING_TIMESTAMP_HEADER: datetime.datetime.now(datetime.timezone.utc)
            .isoformat(timespec="microseconds").replace("+00:00", "Z"),
            self.AML_REQUEST_ID_HEADER: _request_id(),
            self.AML_DC_CORRELATION_HEADER: f"{user_correlation_id}-{generated}" if user_correlation_id else generated,
            self.AML_DC_BOUNDARY_HEADER: 60 * 24,
            self.AML_WORKSPACE_HEADER: self.workspace,
            self.AML_SERVICE_NAME_HEADER: self.service_name,
            self.AML_MODEL_NAME_HEADER: self.model_name,
            self.AML_MODEL_VERSION_HEADER: self.model_version,
        }

    def _path(self) -> Path:
        assert self._folder is not None
        today = datetime.datetime.now(datetime.timezone.utc)
        return self._folder / f"{today:%Y}" / f"{today:%m}" / f"{today:%d}" / f"{self._file_stem}.jsonl"


def dropped_records() -> int:
    """Records dropped so far in this process because the writer fell behind (the queue was full)."""
    return _WRITER.dropped if _WRITER is not None else 0


def flush(timeout: float = 5.0) -> bool:
    """Wait until every queued record is written (tests, shutdown); False if *timeout* ran out first."""
    return _WRITER.flush(timeout) if _WRITER is not None else True


class _Writer:
    """One background thread appending queued records to their files; never blocks a caller."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self.queue: queue.Queue[tuple[Path, dict[str, Any]] | None] = queue.Queue(maxsize=size)
        self.dropped = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="shipyard-data-collector", daemon=True)
        self._thread.start()
        atexit.register(self.flush, 2.0)

    def submit(self, path: Path, record: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait((path, record))
        except queue.Full:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 1000 == 0:
                logger.warning("data collection is behind: %d record(s) dropped so far (queue of %d full)",
                               dropped, self.queue.maxsize)

    def flush(self, timeout: float) -> bool:
        done = threading.Event()
        try:
            self.queue.put((Path(), {"__flush__": done}), timeout=timeout)  # type: ignore[dict-item]
        except queue.Full:
            return False
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            path, record = self.queue.get()  # type: ignore[misc]
            marker = record.get("__flush__")
            if isinstance(marker, threading.Event):
                marker.set()
                continue
            try:
                line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as handle:  # one write per record: whole lines
                    handle.write(line)
            except Exception:
                logger.exception("data collection could not write to %s; the record is lost", path)


_WRITER: _Writer | None = None
_WRITER_LOCK = threading.Lock()


def _writer() -> _Writer:
    global _WRITER
    if _WRITER is None:
        with _WRITER_LOCK:
            if _WRITER is None:
                _WRITER = _Writer()
    return _WRITER


def _request_id() -> str:
    """The current request's id (Shipyard's ``x-request-id``), or azureml-monitoring's all-zero id."""
    try:
        from shipyard.runtime.middleware import REQUEST_ID
    except ImportError:  # the scoring package used without the runtime
        return _ZERO_ID
    value = REQUEST_ID.get()
    return _ZERO_ID if value == "-" else value


def _plain(data: Any) -> Any:
    """*data* as JSON-able values, copied (numpy arrays and DataFrames become lists and records)."""
    if hasattr(data, "to_dict") and type(data).__name__ == "DataFrame":
        return data.to_dict(orient="records")
    if hasattr(data, "tolist"):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_plain(item) for item in data]
    if isinstance(data, dict):
        return {str(key): _plain(value) for key, value in data.items()}
    return data


def _safe(part: str) -> str:
    """A path component that stays one component (no separators, no '..')."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in part).strip(".")
    return cleaned or "_"
