"""JSON in and out of the runtime: orjson when installed, the standard library otherwise.

The runtime's own bodies (V2 tensors, metadata, errors) go through here. orjson is several times
faster on large tensors and is an optional extra (``shipyard[fast]``), so images without it still
work; both paths produce compact UTF-8 bytes.
"""

from __future__ import annotations

import json
from typing import Any

try:  # pragma: no cover - which branch runs depends on the environment
    import orjson

    def dumps(obj: Any) -> bytes:
        """Serialize *obj* to compact JSON bytes."""
        return orjson.dumps(obj)

    def loads(data: bytes | bytearray | memoryview | str) -> Any:
        """Parse JSON; raises :class:`ValueError` on bad input."""
        if isinstance(data, memoryview):
            data = bytes(data)
        return orjson.loads(data)

except ImportError:  # pragma: no cover

    def dumps(obj: Any) -> bytes:
        """Serialize *obj* to compact JSON bytes."""
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(data: bytes | bytearray | memoryview | str) -> Any:
        """Parse JSON; raises :class:`ValueError` on bad input."""
        if isinstance(data, memoryview):
            data = bytes(data)
        return json.loads(data)
