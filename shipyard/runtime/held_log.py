"""uvicorn's start and stop lines, held back until the model has loaded.

uvicorn logs "Started server process", "Waiting for application startup", "Application startup
complete" as soon as it listens, before the model has loaded, and four more lines when it stops.
For a process whose model fails to load (it never serves) those eight lines bury the one that
matters, so they are held while the model loads: released in order once it is ready, dropped
(with the stop lines that follow) when it fails. Warnings and errors are never held.
"""

from __future__ import annotations

import logging

HELD_LOGGER = "uvicorn.error"  # where uvicorn writes its lifecycle lines


class HeldStartupLog(logging.Filter):
    """A filter on uvicorn's lifecycle logger: holds INFO lines until :meth:`release` or :meth:`drop`."""

    def __init__(self) -> None:
        super().__init__()
        self._held: list[logging.LogRecord] | None = []  # None: released, nothing held any more
        self._logger = logging.getLogger(HELD_LOGGER)

    def __enter__(self) -> HeldStartupLog:
        self._logger.addFilter(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._logger.removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._held is None or record.levelno >= logging.WARNING:
            return True
        self._held.append(record)
        return False

    def release(self) -> None:
        """The model is ready: write the held lines and let later ones through."""
        held, self._held = self._held or [], None
        for record in held:
            self._logger.handle(record)

    def drop(self) -> None:
        """The model failed: forget the held lines and keep holding (the stop lines) until exit."""
        if self._held is not None:
            self._held.clear()
