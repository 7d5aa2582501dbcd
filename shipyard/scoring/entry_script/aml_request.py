"""``AMLRequest`` and ``@rawhttp``: raw HTTP access for ``score.py``, without Flask or werkzeug.

Scripts written for Azure import these from ``azureml.contrib.services.aml_request`` or
``azureml_inference_server_http.api.aml_request``; :mod:`shipyard.scoring.entry_script.shims` makes
those names resolve here when the Azure packages are not installed. Under azmlinfsrv the request
is a Flask ``Request``; this class offers the part of that surface scripts use (method, path, url,
headers, args, data, json, form, files) over a transport-agnostic
:class:`~shipyard.scoring.base.ScoreRequest`. Everything is computed lazily, once.
"""

from __future__ import annotations

import io
from functools import cached_property
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from shipyard.errors import BadRequestError
from shipyard.scoring import json_codec
from shipyard.scoring.base import ScoreRequest
from shipyard.scoring.entry_script.headers import Headers
from shipyard.scoring.entry_script.multidict import MultiDict

# Set by @rawhttp while a script is imported; the scorer resets it before each import and reads it
# after, exactly as azmlinfsrv reads the flag of the same name.
_rawHttpRequested = False


def rawhttp(func):
    """Mark ``run()`` as wanting the raw request (an :class:`AMLRequest`) instead of the body text."""
    global _rawHttpRequested
    _rawHttpRequested = True
    return func


class FileStorage:
    """One uploaded file of a ``multipart/form-data`` body (werkzeug's ``FileStorage`` surface)."""

    def __init__(self, data: bytes, filename: str | None, name: str, content_type: str | None) -> None:
        self.filename, self.name, self.content_type = filename, name, content_type
        self.mimetype = (content_type or "").split(";", 1)[0].strip().lower()
        self.stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)

    def save(self, dst: Any) -> None:
        """Write the upload to a path or a binary file object."""
        data = self.stream.getvalue()
        if hasattr(dst, "write"):
            dst.write(data)
        else:
            with open(dst, "wb") as handle:
                handle.write(data)


class AMLRequest:
    """The request a ``@rawhttp`` ``run(request)`` receives."""

    def __init__(self, request: ScoreRequest) -> None:
        self._request = request
        self.method: str = request.method.upper()
        self.path: str = request.path
        self.request_id: str = request.request_id

    # -- URL -------------------------------------------------------------------------------------
    @cached_property
    def args(self) -> MultiDict:
        """Query parameters; repeated keys keep every value (``args.getlist``)."""
        return MultiDict(self._request.query)

    @cached_property
    def query_string(self) -> bytes:
        return urlencode(self._request.query).encode("ascii")

    @property
    def full_path(self) -> str:
        return f"{self.path}?{self.query_string.decode('ascii')}"

    @property
    def scheme(self) -> str:
        return self.headers.get("X-Forwarded-Proto") or "http"

    @property
    def host(self) -> str:
        return self.headers.get("Host") or "localhost"

    @property
    def host_url(self) -> str:
        return f"{self.scheme}://{self.host}/"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}"

    @property
    def url(self) -> str:
        query = self.query_string.decode("ascii")
        return f"{self.base_url}?{query}" if query else self.base_url

    # -- headers ---------------------------------------------------------------------------------
    @cached_property
    def headers(self) -> Headers:
        return Headers(self._request.headers)

    @property
    def content_type(self) -> str | None:
        return self.headers.get("Content-Type")

    @cached_property
    def mimetype(self) -> str:
        return (self.content_type or "").split(";", 1)[0].strip().lower()

    @cached_property
    def mimetype_params(self) -> dict[str, str]:
        params = {}
        for part in (self.content_type or "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip():
                params[key.strip().lower()] = value.strip().strip('"')
        return params

    @property
    def content_length(self) -> int | None:
        return self.headers.get("Content-Length", type=int)

    @property
    def is_json(self) -> bool:
        mimetype = self.mimetype
        return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))

    # -- body ------------------------------------------------------------------------------------
    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> bytes | str:
        """The raw body; ``as_text`` decodes it as UTF-8 (undecodable bytes are replaced, as werkzeug does)."""
        body = self._request.body
        return body.decode("utf-8", errors="replace") if as_text else body

    @property
    def data(self) -> bytes:
        return self._request.body

    @property
    def stream(self) -> io.BytesIO:
        return io.BytesIO(self._request.body)

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        """The body parsed as JSON.

        Raises:
            BadRequestError: 415 when the Content-Type is not JSON (unless ``force``), 400 when the
                body is not valid JSON; ``silent`` answers ``None`` instead.
        """
        if not (force or self.is_json):
            if silent:
                return None
            raise BadRequestError(
                f"expected Content-Type application/json, got {self.content_type or 'none'}", status_code=415
            )
        try:
            return json_codec.loads(self._request.body)
        except ValueError as exc:
            if silent:
                return None
            raise BadRequestError(f"request body is not valid JSON: {exc}") from None

    @property
    def json(self) -> Any:
        return self.get_json()

    @cached_property
    def _form_and_files(self) -> tuple[MultiDict, MultiDict]:
        from shipyard.scoring.entry_script.forms import parse_form

        return parse_form(self.mimetype, self.content_type or "", self._request.body)

    @property
    def form(self) -> MultiDict:
        """Fields of a ``application/x-www-form-urlencoded`` or ``multipart/form-data`` body."""
        return self._form_and_files[0]

    @property
    def files(self) -> MultiDict:
        """Uploaded files (:class:`FileStorage`) of a ``multipart/form-data`` body."""
        return self._form_and_files[1]

    @property
    def values(self) -> MultiDict:
        """Query parameters and form fields together, as werkzeug's ``request.values``."""
        return MultiDict([*self.args.items(multi=True), *self.form.items(multi=True)])

    @cached_property
    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        jar.load(self.headers.get("Cookie", ""))
        return {key: morsel.value for key, morsel in jar.items()}

    def __repr__(self) -> str:
        return f"<AMLRequest {self.method} {self.url}>"
