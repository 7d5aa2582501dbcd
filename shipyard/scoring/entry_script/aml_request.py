"""``AMLRequest`` and ``@rawhttp``: raw HTTP access for ``score.py``, as azmlinfsrv gives it.

Scripts written for Azure import these from ``azureml.contrib.services.aml_request`` or
``azureml_inference_server_http.api.aml_request``; :mod:`shipyard.scoring.entry_script.shims` makes
those names resolve here when the Azure packages are not installed. Under azmlinfsrv a ``@rawhttp``
``run(request)`` receives Flask's request, a werkzeug ``Request``; so does it here: :class:`AMLRequest`
*is* a werkzeug ``Request`` over a WSGI environment built from the
:class:`~shipyard.scoring.base.ScoreRequest`. Headers, query arguments, forms, uploads, cookies,
JSON and their errors are werkzeug's own, not a re-implementation, so they behave as under
azmlinfsrv down to the corner cases. Only ``@rawhttp`` scripts import this module (and werkzeug).
"""

from __future__ import annotations

import io
import sys
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request

from shipyard.scoring.base import ScoreRequest

# Set by @rawhttp while a script is imported; the scorer resets it before each import and reads it
# after, exactly as azmlinfsrv reads the flag of the same name.
_rawHttpRequested = False


def rawhttp(func):
    """Mark ``run()`` as wanting the raw request (an :class:`AMLRequest`) instead of the body text."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


def wsgi_environ(request: ScoreRequest) -> dict[str, Any]:
    """The WSGI environment a WSGI server (gunicorn, under azmlinfsrv) would build for *request*."""
    headers = getattr(request.headers, "raw", None)
    if headers is None:  # a plain mapping (tests, the V2 adapter): str names and values
        headers = [(name.encode("latin-1"), str(value).encode("latin-1")) for name, value in request.headers.items()]
    host = "localhost"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method.upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path.encode("utf-8").decode("latin-1"),  # WSGI carries bytes as latin-1
        "QUERY_STRING": (request.query_string or urlencode(request.query).encode("ascii")).decode("latin-1"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,  # gunicorn's promise: read wsgi.input to its end, length or not
    }
    for raw_name, raw_value in headers:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
        # a repeated header is one comma-joined value, as gunicorn builds it
        environ[key] = f"{environ[key]},{value}" if key in environ else value
        if name == "HOST":
            host = value
    environ.setdefault("HTTP_HOST", host)
    server, _, port = host.rpartition(":") if ":" in host else (host, "", "80")
    environ["SERVER_NAME"], environ["SERVER_PORT"] = server, port or "80"
    return environ


class AMLRequest(Request):
    """The request a ``@rawhttp`` ``run(request)`` receives: a werkzeug ``Request``, like Flask's.

    ``request_id`` is Shipyard's addition: the id the answer will carry in ``x-request-id``.
    """

    def __init__(self, request: ScoreRequest | dict[str, Any]) -> None:
        if isinstance(request, dict):  # a WSGI environment, as werkzeug's own constructor takes
            super().__init__(request)
            self.request_id = ""
            return
        super().__init__(wsgi_environ(request))
        self.request_id = request.request_id
