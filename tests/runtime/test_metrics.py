"""/metrics: Prometheus text with requests by route template and status, latency and model time."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.fixtures.servers import RunningServer


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text; 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _exercise(server: RunningServer, scores: int) -> str:
    for _ in range(scores):
        assert httpx.post(server.url + "/score", content=b"{}").status_code == 200
    httpx.get(server.url + "/v2/models/model")
    httpx.get(server.url + "/v2/models/unknown-model")
    httpx.get(server.url + "/not-a-route")
    response = httpx.get(server.url + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_count_routes_by_template_and_status(module_runtime) -> None:  # type: ignore[no-untyped-def]
    text = _exercise(module_runtime("echo_score.py"), scores=3)
    assert _sample(text, "shipyard_requests_total", route="/score", method="POST", status="200") == 3
    assert _sample(text, "shipyard_requests_total", route="/v2/models/{model_name}", status="200") == 1
    assert _sample(text, "shipyard_requests_total", route="/v2/models/{model_name}", status="404") == 1
    assert _sample(text, "shipyard_requests_total", route="unmatched", status="404") == 1
    assert "/not-a-route" not in text and "unknown-model" not in text  # raw paths never become labels
    assert _sample(text, "shipyard_request_duration_seconds_count", route="/score", method="POST") == 3
    assert _sample(text, "shipyard_model_duration_seconds_count", model="model", protocol="score") == 3
    assert _sample(text, "shipyard_model_duration_seconds_bucket", protocol="score", le="+Inf") == 3


def test_metrics_add_up_across_workers(module_runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = module_runtime("runtime_pid_score.py", env={"SHIPYARD_WORKERS": "2", "PID_DIR": str(tmp_path)})
    pids, answered = set(), 0
    loading_deadline = time.monotonic() + 30
    while answered < 40:  # new connections: the kernel spreads them over both workers
        response = httpx.post(server.url + "/score", content=b"{}")
        if response.status_code == 503 and time.monotonic() < loading_deadline:
            time.sleep(0.1)  # the other worker is still in init(): ready means one worker is
            continue
        assert response.status_code == 200, response.text
        pids.add(response.json()["pid"])
        answered += 1
    assert len(pids) == 2, "both workers should have answered"
    deadline = time.monotonic() + 5  # each worker hands its tallies over every second
    while True:
        text = httpx.get(server.url + "/metrics").text
        total = _sample(text, "shipyard_requests_total", route="/score", method="POST", status="200")
        if total == 40 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert total == 40
    assert _sample(text, "shipyard_model_duration_seconds_count", protocol="score") == 40
    assert _sample(text, "shipyard_request_duration_seconds_bucket", route="/score", le="+Inf") == 40


def test_durations_land_in_prometheus_buckets_as_less_or_equal() -> None:
    from shipyard.runtime import metrics

    app_metrics = metrics.Metrics("model")
    for seconds in (0.001, 0.0010001, 0.3, 61.0):  # on a bound, just above it, mid-range, past the last
        app_metrics.observe_request("/score", "POST", 200, seconds)
    app_metrics.observe_request("/score", "BREW", 200, 0.002)  # an unknown method: one bounded label
    text = app_metrics.render()[0].decode()
    bucket = "shipyard_request_duration_seconds_bucket"
    assert _sample(text, bucket, route="/score", method="POST", le="0.001") == 1
    assert _sample(text, bucket, route="/score", method="POST", le="0.0025") == 2
    assert _sample(text, bucket, route="/score", method="POST", le="0.5") == 3
    assert _sample(text, bucket, route="/score", method="POST", le="60.0") == 3
    assert _sample(text, bucket, route="/score", method="POST", le="+Inf") == 4
    assert _sample(text, "shipyard_request_duration_seconds_sum", method="POST") == pytest.approx(0.001 + 0.0010001 + 0.3 + 61.0)
    assert _sample(text, "shipyard_requests_total", method="OTHER", status="200") == 1


def test_a_full_series_is_folded_without_waiting_for_a_flush() -> None:
    from shipyard.runtime import metrics

    app_metrics = metrics.Metrics("model")
    for _ in range(metrics.MAX_UNFOLDED + 1):
        app_metrics.observe_model("score", 0.0001)
    assert len(app_metrics._model_durations["score"]) == 1  # the first MAX_UNFOLDED were tallied
    text = app_metrics.render()[0].decode()
    assert _sample(text, "shipyard_model_duration_seconds_count", protocol="score") == metrics.MAX_UNFOLDED + 1
