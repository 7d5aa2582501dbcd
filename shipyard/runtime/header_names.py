"""uvicorn's check of response-header names, remembered per name instead of repeated per header.

Before writing a response, uvicorn's httptools protocol searches every header's name and value
with a regular expression, so that no CR/LF or separator can be smuggled into the response. A
search costs about 2,000 instructions; a scoring answer carries seven headers (uvicorn's
``date``, ``content-type`` and ``content-length``, and Azure ML's four request-id and ``run()``
headers), so the names alone cost more per request than Shipyard's whole scoring-mode logic
(``bench/runtime/instructions.py``). Yet the names are the same few on every answer.

:func:`install` swaps uvicorn's name pattern for an object with the same ``search`` contract
(a match for a name with a forbidden character, ``None`` otherwise) that runs the very same
pattern once per distinct name and remembers the names that passed. Nothing is skipped: a name
is only ever let through after uvicorn's own pattern passed it, and a failing name is searched
again every time. Values are left to uvicorn's regular expression: they change with every
request (ids, timings, dates).
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

MAX_REMEMBERED = 1024
"""Distinct valid names kept; past this, new names are checked every time (still correctly)."""


class _ValidNames(dict):  # type: ignore[type-arg]
    """Names that passed *pattern*; looking one up answers ``None`` like a failed search."""

    __slots__ = ("_pattern",)

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        super().__init__()
        self._pattern = pattern

    def __missing__(self, name: bytes) -> re.Match[bytes] | None:
        match = self._pattern.search(name)  # a str name raises TypeError here, as uvicorn's would
        if match is None and len(self) < MAX_REMEMBERED:
            self[name] = None
        return match


class RememberingPattern:
    """Stands in for a compiled pattern whose only use is ``search(name)``; same answers, cached."""

    __slots__ = ("pattern", "search", "wrapped")

    def __init__(self, wrapped: re.Pattern[bytes]) -> None:
        self.wrapped = wrapped
        self.pattern = wrapped.pattern
        self.search = _ValidNames(wrapped).__getitem__  # a C-level lookup for a known name


def install() -> bool:
    """Remember valid header names in uvicorn's httptools protocol; ``False`` if uvicorn's code differs.

    Only a pattern that is exactly the one this was written against is replaced, so a uvicorn
    release that changes the check keeps its own (merely slower) behaviour.
    """
    try:
        from uvicorn.protocols.http import httptools_impl
    except ImportError:  # no httptools: uvicorn uses h11, which validates headers its own way
        return False
    current = getattr(httptools_impl, "HEADER_RE", None)
    if isinstance(current, RememberingPattern):
        return True
    if not isinstance(current, re.Pattern) or current.pattern != EXPECTED_PATTERN:
        logger.debug("uvicorn's header-name check is not the one expected; left as it is")
        return False
    httptools_impl.HEADER_RE = RememberingPattern(current)
    return True


EXPECTED_PATTERN = b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]'
"""uvicorn's ``HEADER_RE`` (as in uvicorn 0.54): control characters and RFC 9110 separators."""
