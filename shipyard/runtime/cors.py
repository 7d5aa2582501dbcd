"""Cross-origin requests from browsers (CORS), off unless origins are configured.

azureml-inference-server-http enables CORS with ``AML_CORS_ORIGINS`` (flask-cors); the same
variable works here, as does ``SHIPYARD_CORS_ORIGINS``. Starlette's ``CORSMiddleware`` does the
work: it is already a dependency and handles preflights, ``Vary: Origin`` and credentials rules
correctly. It sits outermost, so a preflight (``OPTIONS`` with ``Access-Control-Request-Method``,
which browsers send without the API key) is answered before authentication; actual requests
still need their key, and their answers, errors included, carry the CORS headers so a page can
read them.
"""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

ALLOWED_METHODS = ["GET", "POST", "OPTIONS"]
EXPOSED_HEADERS = [
    "x-request-id", "x-ms-request-id", "x-ms-client-request-id", "x-ms-run-fn-exec-ms",
    "x-ms-run-function-failed", "inference-header-content-length",
]  # fmt: skip
PREFLIGHT_MAX_AGE_S = 600


def wrap(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """*app* answering browsers from *origins* (``*``: any); *app* itself when there are none."""
    if not origins:
        return app
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=ALLOWED_METHODS,
        allow_headers=["*"],  # echo what the page asks for: Authorization, Content-Type, x-request-id...
        expose_headers=EXPOSED_HEADERS,
        max_age=PREFLIGHT_MAX_AGE_S,
    )
