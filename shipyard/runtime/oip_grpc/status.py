"""gRPC status codes, and how they stand for HTTP statuses (the runtime's errors carry HTTP ones).

The numbers are gRPC's own (``grpc/status.h``); the server needs them without importing grpcio,
which only clients need.
"""

from __future__ import annotations

import enum


class StatusCode(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


FROM_HTTP: dict[int, StatusCode] = {
    200: StatusCode.OK,
    400: StatusCode.INVALID_ARGUMENT,
    401: StatusCode.UNAUTHENTICATED,
    404: StatusCode.NOT_FOUND,
    413: StatusCode.RESOURCE_EXHAUSTED,
    429: StatusCode.RESOURCE_EXHAUSTED,
    431: StatusCode.INVALID_ARGUMENT,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.DEADLINE_EXCEEDED,
}
"""HTTP status -> the code KServe and Triton use for it; any other 4xx is INVALID_ARGUMENT, 5xx INTERNAL."""

TO_HTTP: dict[StatusCode, int] = {
    StatusCode.OK: 200,
    StatusCode.INVALID_ARGUMENT: 400,
    StatusCode.UNAUTHENTICATED: 401,
    StatusCode.NOT_FOUND: 404,
    StatusCode.RESOURCE_EXHAUSTED: 413,
    StatusCode.UNIMPLEMENTED: 501,
    StatusCode.UNAVAILABLE: 503,
    StatusCode.DEADLINE_EXCEEDED: 504,
}
"""A code as the HTTP status the metrics and the access log record for it (others: 500)."""


def from_http(status: int) -> StatusCode:
    return FROM_HTTP.get(status, StatusCode.INVALID_ARGUMENT if status < 500 else StatusCode.INTERNAL)


def to_http(code: int) -> int:
    return TO_HTTP.get(code, 500)  # type: ignore[call-overload]
