"""Fast JSON for the request path, with numpy support and a stdlib fallback.

Scoring responses are mostly numbers, often numpy arrays; ``orjson`` encodes those straight from the
array buffer (no ``tolist()``), several times faster than :mod:`json`. Images that lack ``orjson``
still work through the stdlib path, only slower. Output matches ``json.dumps`` semantically (a
Python ``str`` becomes a JSON string, NaN becomes ``null`` instead of the non-standard ``NaN``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

try:
    import orjson
except ImportError:  # images built without orjson (tests cover this path too)
    orjson = None  # type: ignore[assignment]


def _default(value: Any) -> Any:
    """Turn what the fast path refuses (non-contiguous or exotic numpy data, sets...) into JSON types."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [_default(item) if isinstance(item, bytes) else item for item in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, (set, frozenset)):
        return list(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


if orjson is not None:
    _OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    def dumps(value: Any) -> bytes:
        """Encode ``value`` (JSON types, numpy arrays and scalars) to UTF-8 JSON bytes."""
        return orjson.dumps(value, default=_default, option=_OPTIONS)

    def loads(data: bytes | bytearray | memoryview | str) -> Any:
        """Decode JSON (``ValueError`` when invalid), also the ``NaN``/``Infinity`` that ``json.dumps`` writes."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            return _stdlib_loads(data)  # slower, but lenient like the stdlib clients that produced it

else:
    def dumps(value: Any) -> bytes:
        """Encode ``value`` (JSON types, numpy arrays and scalars) to UTF-8 JSON bytes."""
        return json.dumps(value, default=_default, separators=(",", ":")).encode("utf-8")

    def loads(data: bytes | bytearray | memoryview | str) -> Any:
        """Decode JSON text or UTF-8 bytes (``ValueError`` when invalid)."""
        return _stdlib_loads(data)


def _stdlib_loads(data: bytes | bytearray | memoryview | str) -> Any:
    """:func:`json.loads`, with too deep a nesting a ``ValueError`` like any other invalid JSON.

    The stdlib parser recurses once per level and gives up near Python's recursion limit (about
    1,000 levels) with a ``RecursionError``, which callers would otherwise turn into a 500.
    """
    try:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply (more than about 1,000 levels of arrays and objects)") from None
