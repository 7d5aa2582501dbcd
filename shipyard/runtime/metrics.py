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

import os
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from fastapi import FastAPI

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})


class Metrics:
    """The runtime's metric families, and their text exposition for ``GET /metrics``."""

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
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._model_children: dict[str, Histogram] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request; label children are cached (prometheus' lookup takes a lock)."""
        if method not in _METHODS:
            method = "OTHER"
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self._requests.labels(route, method, str(status)), self._latency.labels(route, method))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_model(self, protocol: str, seconds: float) -> None:
        child = self._model_children.get(protocol)
        if child is None:
            child = self._model_children[protocol] = self._model.labels(self.model_name, protocol)
        child.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        if self._registry is not None:
            return generate_latest(self._registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST


def register(app: "FastAPI", metrics: Metrics) -> None:
    """Add ``GET /metrics`` (Prometheus text format) to *app*."""
    from starlette.responses import Response

    @app.get("/metrics", include_in_schema=False)
    async def exposition() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)
