"""``AMLResponse``: what a ``score.py`` returns to control status, headers, body type or streaming.

azmlinfsrv's ``AMLResponse`` is a Flask ``Response``; this one is the same class on werkzeug's
``Response`` (Flask's adds only app glue), with Flask's default ``text/html`` mimetype and
azmlinfsrv's constructor, line for line: ``None`` answers ``{}`` as JSON; ``json_str=True``
JSON-encodes the message; anything else is given to werkzeug as is (``str``/``bytes`` bodies,
generators streamed chunk by chunk); a ``Content-Type`` in ``response_headers`` replaces the
default; a header value with commas becomes one header per part; ``x-ms-run-function-failed``
carries ``run_function_failed``. Everything werkzeug offers then works as under azmlinfsrv:
``mimetype``, ``status_code``, ``headers``, ``set_cookie``, ``set_data`` ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response


class AMLResponse(Response):
    """A response built by the script (a werkzeug ``Response``, as azmlinfsrv's is a Flask one)."""

    default_mimetype = "text/html"  # Flask's, which azmlinfsrv's scripts get
    autocorrect_location_header = False  # Flask's setting

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, Any] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        response_headers = {} if response_headers is None else response_headers
        if message is not None:
            if json_str:
                super().__init__(json.dumps(message), status=status_code, mimetype="application/json")
            else:
                super().__init__(message, status=status_code)
                if "Content-Type" in response_headers:
                    self.headers.remove("Content-Type")  # the loop below adds the script's
        else:
            super().__init__(json.dumps({}), status=status_code, mimetype="application/json")

        self.headers["x-ms-run-function-failed"] = run_function_failed
        # Repeated headers are written comma-separated (RFC 2616 section 4.2), as azmlinfsrv splits them.
        for header, value in response_headers.items():
            for part in value.split(","):
                self.headers.add_header(header, part.strip())
