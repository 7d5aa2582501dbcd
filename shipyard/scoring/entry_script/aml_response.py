"""``AMLResponse``: what a ``score.py`` returns to control status, headers, body type or streaming.

Same constructor as Azure's (``message, status_code, response_headers, json_str,
run_function_failed``), without Flask. Body rules follow azmlinfsrv: ``None`` answers ``{}`` as
JSON; ``json_str=True`` JSON-encodes the message (a ``str`` message is encoded as a JSON string,
like ``json.dumps``); a ``str``/``bytes`` message is sent as is with Flask's default
``text/html; charset=utf-8`` unless ``response_headers`` names a ``Content-Type``; a generator or
other iterator is streamed chunk by chunk. Where Flask would have failed, Shipyard is kinder: a
``dict``/``list``/number message is sent as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from shipyard.scoring import json_codec
from shipyard.scoring.base import ScoreResponse

FLASK_DEFAULT_MEDIA_TYPE = "text/html; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"


def encode_chunks(source: Iterable[Any]) -> Iterator[bytes]:
    """Encode each chunk a script yields: ``str`` as UTF-8, bytes as is, anything else as JSON."""
    for chunk in source:
        if isinstance(chunk, bytes):
            yield chunk
        elif isinstance(chunk, str):
            yield chunk.encode("utf-8")
        elif isinstance(chunk, (bytearray, memoryview)):
            yield bytes(chunk)
        else:
            yield json_codec.dumps(chunk)


class AMLResponse:
    """A response built by the script. ``body`` is bytes, or an iterator of bytes when streamed."""

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, Any] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        self.status_code = int(status_code)
        self.run_function_failed = bool(run_function_failed)
        self.headers: dict[str, str] = {}
        content_type = None
        for name, value in (response_headers or {}).items():
            if name.lower() == "content-type":
                content_type = str(value)
            else:
                self.headers[name] = str(value)

        self.body: bytes | Iterator[bytes]
        if message is None:
            self.body, media_type = b"{}", JSON_MEDIA_TYPE
        elif json_str:
            self.body, media_type = json_codec.dumps(message), JSON_MEDIA_TYPE
        elif isinstance(message, str):
            self.body, media_type = message.encode("utf-8"), FLASK_DEFAULT_MEDIA_TYPE
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self.body, media_type = bytes(message), FLASK_DEFAULT_MEDIA_TYPE
        elif isinstance(message, (dict, list, tuple, int, float, bool)) or hasattr(message, "__array__"):
            self.body, media_type = json_codec.dumps(message), JSON_MEDIA_TYPE
        elif isinstance(message, Iterable):
            self.body, media_type = encode_chunks(message), FLASK_DEFAULT_MEDIA_TYPE
        else:
            self.body, media_type = json_codec.dumps(message), JSON_MEDIA_TYPE
        self.mimetype = media_type.split(";", 1)[0]
        self.content_type = content_type or media_type

    @property
    def is_streamed(self) -> bool:
        return not isinstance(self.body, bytes)

    def get_data(self, as_text: bool = False) -> bytes | str:
        """The whole body (a streamed body is consumed and kept)."""
        if not isinstance(self.body, bytes):
            self.body = b"".join(self.body)
        return self.body.decode("utf-8") if as_text else self.body

    @property
    def data(self) -> bytes:
        return self.get_data()  # type: ignore[return-value]

    def to_score_response(self) -> ScoreResponse:
        """The runtime-facing form of this response."""
        return ScoreResponse(
            body=self.body,
            status_code=self.status_code,
            headers=self.headers,
            media_type=self.content_type,
            run_function_failed=self.run_function_failed,
        )

    def __repr__(self) -> str:
        return f"<AMLResponse {self.status_code} {self.content_type}>"
