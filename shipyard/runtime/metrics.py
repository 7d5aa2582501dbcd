"""Prometheus metrics: requests by route template and status, latency, and time spent in the model.

With several worker processes each keeps its own counters, so the runtime runs prometheus-client
in multiprocess mode: the supervisor points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary
folder before starting workers, each worker writes its samples there (memory-mapped files, cheap
per request), and ``/metrics`` on any worker sums all of them. With one worker and no
``PROMETHEUS_MULTIPROC_DIR`` the metrics live in a private in-process registry.

Labels use route *templates* (``/v2/models/{model_name}``), never raw paths, so the number of
series stays bounded whatever clients send.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from fastapi import FastAPI

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "GRPC"})
MAX_UNFOLDED = 4096
"""Durations one series keeps as they came before they are folded into its tally (without waiting for a flush)."""


_BOUNDS = np.array(LATENCY_BUCKETS, dtype=np.float64)  # the last bucket, +Inf, is index len(LATENCY_BUCKETS)


class _Pending:
    """Observations of one series not yet handed to prometheus-client."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.count, self.total, self.buckets = 0, 0.0, np.zeros(len(LATENCY_BUCKETS) + 1, dtype=np.int64)

    def add(self, durations: list[float]) -> None:
        """Tally a batch of durations: one vectorised bucket count instead of a bisect per request."""
        self.count += len(durations)
        self.total += math.fsum(durations)
        indexes = np.searchsorted(_BOUNDS, durations, side="left")  # bucket i: bounds[i-1] < d <= bounds[i]
        self.buckets += np.bincount(indexes, minlength=self.buckets.size)


class Metrics:
    """The runtime's metric families, and their text exposition for ``GET /metrics``.

    Per request, a duration is only appended to its series' list (no locks, no memory-mapped
    writes, no bucket search: everything runs on the event loop thread, and this is every
    request's path). :meth:`flush` folds the lists into per-series tallies, vectorised, and hands
    those to prometheus-client in bulk. The app flushes every second and before each scrape, so
    another worker's latest second may be missing from one scrape; nothing is lost.
    """

    def __init__(self, model_name: str) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # In multiprocess mode samples go to files, and /metrics reads them back through a collector.
        registry = None if self.multiprocess else CollectorRegistry()
        self._registry = registry
        if registry is not None:
            ProcessCollector(registry=registry)
        self.model_name = model_name
        self._requests = Counter(
            "shipyard_requests", "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self._latency = Histogram(
            "shipyard_request_duration_seconds", "Time from request start to the last response byte.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self._model = Histogram(
            "shipyard_model_duration_seconds", "Time spent inside the model: run() for /score, infer for V2.",
            ["model", "protocol"], buckets=LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self._batch = Histogram(
            "shipyard_batch_size", "Rows per model call formed by the dynamic batcher (SHIPYARD_MAX_BATCH_SIZE).",
            ["model"], buckets=BATCH_BUCKETS, registry=registry,
        )  # fmt: skip
        # defaultdicts: a series' list is looked up in C, and made only on its first observation
        self._request_durations: defaultdict[tuple[str, str, int], list[float]] = defaultdict(list)
        self._model_durations: defaultdict[str, list[float]] = defaultdict(list)
        self._pending_requests: dict[tuple[str, str, int], _Pending] = {}
        self._pending_model: dict[str, _Pending] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        durations = self._request_durations[route, method, status]
        durations.append(seconds)
        if len(durations) >= MAX_UNFOLDED:
            self._fold()

    def observe_model(self, protocol: str, seconds: float) -> None:
        """Record time spent inside the model."""
        durations = self._model_durations[protocol]
        durations.append(seconds)
        if len(durations) >= MAX_UNFOLDED:
            self._fold()

    def observe_batch(self, rows: int) -> None:
        """Record one batch the dynamic batcher formed (once per model call, not per request: no buffering)."""
        self._batch.labels(self.model_name).observe(rows)

    def _fold(self) -> None:
        """Fold the durations seen so far into the per-series tallies."""
        requests, self._request_durations = self._request_durations, defaultdict(list)
        for (route, method, status), durations in requests.items():
            if method not in _METHODS:
                method = "OTHER"  # bounded label values, whatever clients send
            _tally(self._pending_requests, (route, method, status)).add(durations)
        model, self._model_durations = self._model_durations, defaultdict(list)
        for protocol, durations in model.items():
            _tally(self._pending_model, protocol).add(durations)

    def flush(self) -> None:
        """Move the tallies into prometheus-client (and, with several workers, into the shared files)."""
        self._fold()
        for (route, method, status), pending in self._pending_requests.items():
            if pending.count:
                self._requests.labels(route, method, str(status)).inc(pending.count)
                _add(self._latency.labels(route, method), pending)
        for protocol, pending in self._pending_model.items():
            if pending.count:
                _add(self._model.labels(self.model_name, protocol), pending)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (this worker's tallies flushed first)."""
        self.flush()
        if self._registry is not None:
            return generate_latest(self._registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def _tally(series: dict[Any, _Pending], key: Any) -> _Pending:
    """*key*'s tally in *series*, created on first use."""
    pending = series.get(key)
    if pending is None:
        pending = series[key] = _Pending()
    return pending


def _add(histogram: Histogram, pending: _Pending) -> None:
    """Add tallied observations to one histogram child and reset the tally.

    prometheus-client has no bulk ``observe``; its children keep one value per bucket (not
    cumulative) plus a sum, which is what is added to here. Without those internals (a future
    version), each observation is replayed at its bucket's upper bound instead.
    """
    buckets, total = getattr(histogram, "_buckets", None), getattr(histogram, "_sum", None)
    if buckets is not None and total is not None and len(buckets) == len(pending.buckets):
        for index, count in enumerate(pending.buckets.tolist()):
            if count:
                buckets[index].inc(count)
        total.inc(pending.total)
    else:  # pragma: no cover - depends on the prometheus-client version
        bounds = (*LATENCY_BUCKETS, LATENCY_BUCKETS[-1])
        for index, count in enumerate(pending.buckets.tolist()):
            for _ in range(count):
                histogram.observe(bounds[index])
    pending.count, pending.total = 0, 0.0
    pending.buckets[:] = 0


def register(app: FastAPI, metrics: Metrics) -> None:
    """Add ``GET /metrics`` (Prometheus text format) to *app*."""
    from starlette.responses import Response

    @app.get("/metrics", include_in_schema=False)
    async def exposition() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)
