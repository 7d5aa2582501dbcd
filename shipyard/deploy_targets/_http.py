"""The few HTTP calls deploy targets make (readiness polls, ``invoke``), with the stdlib only.

Deploying must not depend on an HTTP client library that images and the runtime do not need;
``urllib`` does the job for one request at a time.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field


@dataclass
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(method: str, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 10.0) -> HttpResponse:
    """Send one request and return the answer, whatever its status.

    Raises:
        OSError: nothing answered (connection refused or reset, timeout, unknown host).
    """
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - URL built by us
            return HttpResponse(resp.status, resp.read(), dict(resp.headers.items()))
    except urllib.error.HTTPError as exc:
        return HttpResponse(exc.code, exc.read(), dict(exc.headers.items()))
    except urllib.error.URLError as exc:
        raise OSError(str(exc.reason)) from exc
