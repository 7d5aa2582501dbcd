"""Schemathesis against the runtime's own OpenAPI document: no request a client can make gets a 5xx.

Valid and invalid requests are generated from :func:`shipyard.runtime.openapi.runtime_openapi` (Azure and V2
routes) and sent to a real server running an ``@input_schema`` script, so inputs are converted,
checked against the script's tensor specs and, when they pass, given to ``run()``. The only 5xx
allowed is the deliberate one: a ``run()`` that raised (500 naming the request id). Bounded for
CI: a few dozen examples per operation, derandomized.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from shipyard.runtime.dataplane import UNEXPECTED_SCORE_ERROR
from shipyard.runtime.openapi import runtime_openapi
from tests.fixtures.servers import RunningServer

schema = schemathesis.openapi.from_dict(runtime_openapi())
# Valid requests and, as clients make mistakes, invalid ones (a datatype that is a list, a negative dimension...).
schema.config.generation.update(modes=list(schemathesis.GenerationMode))
MODEL = "model"  # the model folder's name, which names the model


@pytest.fixture(scope="module")
def server(module_runtime) -> RunningServer:  # type: ignore[no-untyped-def]
    return module_runtime("schema_score.py", env={"SHIPYARD_ACCESS_LOG": "false"})


def aim_at_the_model(case: schemathesis.Case) -> None:
    """Send most infer requests to the model actually served, its first input named as run() names it,
    so that they get past the 404 and reach the decoder, the checks and run()."""
    parameters = case.path_parameters or {}
    if "infer" in case.path and hash(repr(case.body)) % 4:
        parameters["model_name"] = MODEL
        if "model_version" in parameters:
            parameters["model_version"] = "1"
        inputs = case.body.get("inputs") if isinstance(case.body, dict) else None
        if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
            inputs[0]["name"] = "data"


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
def test_no_generated_request_gets_a_5xx(case: schemathesis.Case, server: RunningServer) -> None:
    aim_at_the_model(case)
    response = case.call(base_url=server.url, timeout=30)
    if response.status_code == 500 and UNEXPECTED_SCORE_ERROR in response.text:
        return  # run() raised on an input it accepted: the deliberate 500
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
        f"body: {str(case.body)[:500]}\n{server.log()[-3000:]}"
    )


def test_the_server_logged_no_traceback_but_for_run(server: RunningServer) -> None:
    """After the fuzzing above: every traceback in the log is one of run()'s (a deliberate 500)."""
    log = server.log()
    assert log.count("Traceback") == log.count("run() failed for request") + log.count("infer failed for request")
