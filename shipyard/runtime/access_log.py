"""The access log: one line per request, cheap enough to leave on.

A line through :mod:`logging` costs tens of microseconds (a LogRecord, filters, a formatter, a
``strftime``), about as much as uvicorn spends on the whole request. These lines are formatted
directly, in the same layout as the runtime's other log lines (see
:mod:`shipyard.runtime.logconfig`), buffered, and written to stderr in one go several times a
second (and at shutdown) by :func:`shipyard.runtime.app.create_app`'s background task.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

from shipyard.scoring import json_codec

LOGGER_NAME = "shipyard.access"
FLUSH_INTERVAL_S = 0.2
_MAX_BUFFERED = 512  # lines; beyond this a request flushes synchronously


class AccessLog:
    """Buffered access-log lines in the ``console`` or ``json`` log format."""

    def __init__(self, log_format: str = "console", stream: TextIO | None = None) -> None:
        self._json = log_format == "json"
        self._stream = stream
        self._lines: list[str] = []
        self._pid = os.getpid()
        self._second = -1
        self._stamp = ""

    def record(self, client: str, method: str, path: str, status: int, seconds: float, request_id: str) -> None:
        """Add the line for one answered request."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            pattern = "%Y-%m-%dT%H:%M:%S" if self._json else "%Y-%m-%d %H:%M:%S"
            self._stamp = time.strftime(pattern, time.gmtime(now) if self._json else time.localtime(now))
        millis = int((now - second) * 1000)
        message = f'{client} "{method} {path}" {status} {seconds * 1000.0:.3f}ms {request_id}'
        if self._json:
            line = json_codec.dumps({
                "time": f"{self._stamp}.{millis:03d}Z", "level": "INFO", "logger": LOGGER_NAME, "pid": self._pid,
                "request_id": request_id, "message": message, "method": method, "path": path, "status": status,
                "duration_ms": round(seconds * 1000.0, 3), "client": client,
            }).decode()  # fmt: skip
        else:
            line = f"{self._stamp},{millis:03d} INFO    [{self._pid}] {LOGGER_NAME}: {message}"
        self._lines.append(line)
        if len(self._lines) >= _MAX_BUFFERED:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines."""
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        stream = self._stream or sys.stderr
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # stderr closed (shutdown, a detached process): drop the lines
            pass
