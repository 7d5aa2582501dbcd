"""Logging, configured once per process at the entry point (never on import).

Everything goes to **stdout**, where azmlinfsrv 1.5.1 writes its server log (startup, ``init()``
errors, the access log) and where Azure ML's log collectors and ``docker logs`` readers look.

``console`` is for people at a terminal; ``json`` writes one object per line for log shippers
(set ``SHIPYARD_LOG_FORMAT=json`` in images). uvicorn's loggers are routed through the same
handler. Every record carries the current request id (``-`` outside a request), which also
reaches log lines written by ``run()``, which runs in the request's context on any thread.
"""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import Any

from shipyard.runtime.middleware import REQUEST_ID

CONSOLE_FORMAT = "%(asctime)s %(levelname)-7s [%(process)d] %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, pid, request_id, message, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    """Send all logs (Shipyard, uvicorn, the user's score.py) to stdout in one format."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if fmt == "json" else {"format": CONSOLE_FORMAT}
    )
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            },
        },
        "root": {"handlers": ["stdout"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},  # Shipyard writes its own access log
        },
    })
