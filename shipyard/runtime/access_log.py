"""The access log: one line per request, cheap enough to leave on.

A line through :mod:`logging` costs tens of microseconds (a LogRecord, filters, a formatter, a
``strftime``), about as much as uvicorn spends on the whole request. These lines are formatted
directly, in the same layout as the runtime's other log lines (see
:mod:`shipyard.runtime.logconfig`), buffered, and written to stdout (with the rest of the log) in
one go several times a second (and at shutdown) by :func:`shipyard.runtime.app.create_app`'s background task.

Health and readiness probes are left out unless ``log_probes`` is set: a load balancer or
Kubernetes asks every few seconds, and ``shipyard logs NAME`` would otherwise show only that.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

from shipyard.scoring import json_codec

LOGGER_NAME = "shipyard.access"
FLUSH_INTERVAL_S = 0.2
_MAX_BUFFERED = 512  # lines; beyond this a request flushes synchronously
_MAX_MIDDLES = 4096  # remembered (client, method, path, status) line middles
PROBE_ROUTES = frozenset({
    "/", "/v2/health/live", "/v2/health/ready",
    "/v2/models/{model_name}/ready", "/v2/models/{model_name}/versions/{model_version}/ready",
})
"""Route templates of the health and readiness probes (:mod:`shipyard.runtime.health`, V2 model ready)."""
_THREE_DIGITS = tuple(f"{number:03d}" for number in range(1000))  # a lookup costs less than a format spec


class AccessLog:
    """Buffered access-log lines in the ``console`` or ``json`` log format.

    A request only appends its facts to a list; the lines are formatted when the buffer is
    written, in one tight loop, off the request's path.
    """

    def __init__(self, log_format: str = "console", stream: TextIO | None = None, *, log_probes: bool = False) -> None:
        self.quiet_routes: frozenset[str] = frozenset() if log_probes else PROBE_ROUTES
        """Route templates whose requests are not logged (the caller checks, before :meth:`record`)."""
        self._json = log_format == "json"
        self._stream = stream
        self._entries: list[tuple[Any, ...]] = []
        self._pid = os.getpid()
        self._head = f" INFO    [{self._pid}] {LOGGER_NAME}: "
        self._second = -1  # the second _stamp spells out: one strftime per second, not per line
        self._stamp = ""
        # The part of a console line between time and duration, per (client, method, path,
        # status): the same on every request of a connection, so spelled out once.
        self._middles: dict[tuple[Any, ...], str] = {}

    def record(self, client: tuple[str, int] | None, method: str, path: str, status: int, seconds: float,
               request_id: str) -> None:
        """Note one answered request (*client*: ASGI's ``(host, port)``, or ``None``)."""
        self._entries.append((time.time(), client, method, path, status, seconds, request_id))
        if len(self._entries) >= _MAX_BUFFERED:
            self.flush()

    def flush(self) -> None:
        """Format and write the buffered lines."""
        if not self._entries:
            return
        entries, self._entries = self._entries, []
        text = "\n".join(map(self._json_line, entries) if self._json else self._console_lines(entries)) + "\n"
        stream = self._stream or sys.stdout
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):  # stdout closed (shutdown, a detached process): drop the lines
            pass

    def _console_lines(self, entries: list[tuple[Any, ...]]) -> list[str]:
        """The runtime's console layout (:mod:`shipyard.runtime.logconfig`); this runs for every request."""
        lines: list[str] = []
        append, middles = lines.append, self._middles
        for now, client, method, path, status, seconds, request_id in entries:
            second = int(now)
            if second != self._second:
                self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
            middle = middles.get(key := (client, method, path, status))
            if middle is None:
                if len(middles) >= _MAX_MIDDLES:  # many clients or paths: start over rather than grow
                    middles.clear()
                address = f"{client[0]}:{client[1]}" if client else "-"
                middle = middles[key] = f'{self._head}{address} "{method} {path}" {status} '
            millis, micros = divmod(int(seconds * 1e6 + 0.5), 1000)  # integers: a float format costs more
            append(f"{self._stamp},{_THREE_DIGITS[int((now - second) * 1000)]}{middle}{millis}."
                   f"{_THREE_DIGITS[micros]}ms {request_id}")
        return lines

    def _json_line(self, entry: tuple[Any, ...]) -> str:
        now, client, method, path, status, seconds, request_id = entry
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        address = f"{client[0]}:{client[1]}" if client else "-"
        return json_codec.dumps({
            "time": f"{self._stamp}.{int((now - second) * 1000):03d}Z", "level": "INFO", "logger": LOGGER_NAME,
            "pid": self._pid, "request_id": request_id,
            "message": f'{address} "{method} {path}" {status} {seconds * 1000.0:.3f}ms {request_id}',
            "method": method, "path": path, "status": status, "duration_ms": round(seconds * 1000.0, 3),
            "client": address,
        }).decode()  # fmt: skip
