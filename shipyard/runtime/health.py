"""Health probes: Azure's ``GET /`` and the V2 ``/v2/health/live`` and ``/v2/health/ready``.

- ``/v2/health/live``: 200 as soon as the process serves HTTP, also while ``init()`` runs. Use it
  for liveness probes, so a slow ``init()`` is never mistaken for a hung process.
- ``/v2/health/ready``: 200 once the model is loaded, 503 before (and while shutting down).
- ``GET /``: azmlinfsrv's probe, ``Healthy`` with 200. azmlinfsrv only answers once ``init()``
  has finished, and Azure-era clients poll it before scoring, so it follows readiness: 503
  while loading.

A model that fails to load never leaves a server up that answers "not ready" forever: the
process exits non-zero (see :mod:`shipyard.runtime.server`).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import HTMLResponse, Response

from shipyard.runtime.dataplane import DataPlane
from shipyard.runtime.responses import error_response, json_response

_RETRY = {"retry-after": "1"}


def register(app: FastAPI, dataplane: DataPlane) -> None:
    """Add the health routes to *app*."""

    # HEAD too: some load balancers probe with it (Flask, under azmlinfsrv, answers it).
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def azure_health() -> Response:
        if dataplane.ready:
            return HTMLResponse("Healthy")  # text/html; charset=utf-8: Flask's default, as azmlinfsrv sends
        return error_response(503, str(dataplane.not_ready_error()), _RETRY)

    @app.api_route("/v2/health/live", methods=["GET", "HEAD"], include_in_schema=False)
    async def live() -> Response:
        return json_response({"live": True})

    @app.api_route("/v2/health/ready", methods=["GET", "HEAD"], include_in_schema=False)
    async def ready() -> Response:
        if dataplane.ready:
            return json_response({"ready": True})
        return error_response(503, str(dataplane.not_ready_error()), _RETRY)
