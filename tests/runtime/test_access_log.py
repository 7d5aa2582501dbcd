"""The buffered access log: exact line layouts, whatever mix of clients and answers it sees."""

from __future__ import annotations

import io
import json
import re
import time

import pytest

from shipyard.runtime import access_log
from shipyard.runtime.access_log import AccessLog

CONSOLE_LINE = re.compile(r'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO    \[(\d+)\] shipyard\.access: '
                          r'(\S+) "(\S+) (\S+)" (\d{3}) (\d+\.\d{3})ms (\S+)')


def _requests() -> list[tuple[tuple[str, int] | None, str, str, int, float, str]]:
    """Several connections, methods, paths and statuses, each seen more than once."""
    clients = [("127.0.0.1", 40000), ("10.0.0.7", 51234), None]
    answers = [("POST", "/score", 200), ("GET", "/", 200), ("POST", "/score", 500), ("GET", "/nope", 404)]
    return [(clients[n % 3], *answers[n % 4], n * 0.001234, f"req-{n}") for n in range(24)]  # type: ignore[misc]


def test_console_lines_spell_out_each_request_in_the_runtime_layout() -> None:
    stream = io.StringIO()
    log = AccessLog("console", stream)
    before = time.time()
    for request in _requests():
        log.record(*request)
    log.flush()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 24
    for line, (client, method, path, status, seconds, request_id) in zip(lines, _requests(), strict=True):
        match = CONSOLE_LINE.fullmatch(line)
        assert match, line
        stamp, _, pid, address, *rest = match.groups()
        assert abs(time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) - before) < 5
        assert address == (f"{client[0]}:{client[1]}" if client else "-")
        assert rest == [method, path, str(status), f"{seconds * 1000:.3f}", request_id]


def test_remembered_line_parts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(access_log, "_MAX_MIDDLES", 2)
    stream = io.StringIO()
    log = AccessLog("console", stream)
    for port in range(10):  # ten connections: more than the log keeps
        log.record(("127.0.0.1", port), "POST", "/score", 200, 0.001, f"r{port}")
    log.flush()
    assert len(log._middles) <= 2
    lines = stream.getvalue().splitlines()
    assert [line.split(" shipyard.access: ")[1] for line in lines] == [
        f'127.0.0.1:{port} "POST /score" 200 1.000ms r{port}' for port in range(10)
    ]


def test_json_lines_carry_the_same_facts_as_fields() -> None:
    stream = io.StringIO()
    log = AccessLog("json", stream)
    log.record(("127.0.0.1", 40000), "POST", "/score", 200, 0.0025, "req-json")
    log.flush()
    record = json.loads(stream.getvalue())
    assert (record["logger"], record["level"], record["request_id"]) == ("shipyard.access", "INFO", "req-json")
    assert (record["method"], record["path"], record["status"], record["duration_ms"]) == ("POST", "/score", 200, 2.5)
    assert record["client"] == "127.0.0.1:40000" and re.fullmatch(r"\S+T\S+\.\d{3}Z", record["time"])


def _logged_paths(server, deadline_s: float = 5.0) -> list[str]:  # noqa: ANN001
    """The paths in *server*'s access log, once the ``/score`` line (flushed last) has arrived."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        lines = [line for line in server.log().splitlines() if " shipyard.access: " in line]
        if any('"POST /score"' in line for line in lines):
            return [line.split('"')[1].split(" ")[1] for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"no /score line in the access log:\n{server.log()}")


PROBES = ["/", "/v2/health/live", "/v2/health/ready", "/v2/models/model/ready", "/v2/models/model/versions/1/ready"]


@pytest.mark.parametrize("log_probes", [False, True], ids=["default", "SHIPYARD_LOG_PROBES"])
def test_probes_are_left_out_of_the_access_log_unless_asked_for(start_runtime, log_probes: bool) -> None:  # noqa: ANN001
    import httpx

    from tests.fixtures.servers import SCRIPTS

    env = {"SHIPYARD_LOG_PROBES": "true"} if log_probes else {}
    server = start_runtime(entry_script=SCRIPTS / "echo_score.py", env=env)
    for path in PROBES:
        assert httpx.get(server.url + path).status_code == 200, path
    assert httpx.get(server.url + "/v2/models/model").status_code == 200  # metadata is traffic, not a probe
    assert httpx.post(server.url + "/score", content=b"hi").status_code == 200
    logged = _logged_paths(server)
    assert [path for path in logged if path not in PROBES] == ["/v2/models/model", "/score"]
    probes_logged = [path for path in logged if path in PROBES]
    if log_probes:  # the fixture's own readiness polls come first, then ours
        assert probes_logged[-len(PROBES):] == PROBES
    else:
        assert probes_logged == []
