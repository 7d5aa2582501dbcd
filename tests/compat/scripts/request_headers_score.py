"""run(data, request_headers): azmlinfsrv passes dict(request.headers); the script reports it."""

SKIPPED = {"Host", "User-Agent", "Accept-Encoding", "Connection", "Accept"}


def init():
    pass


def run(data, request_headers):
    return {
        "headers": {name: value for name, value in request_headers.items() if name not in SKIPPED},
        "type": type(request_headers).__name__,
        "lower_case_lookup": request_headers.get("content-type"),
    }
