"""Following the engine's build log: steps, cache hits, and errors that say what failed."""

from __future__ import annotations

import pytest

from shipyard.builder.progress import BuildEvent, BuildLog
from shipyard.errors import BuildStepError


def stream(*lines: str) -> list[dict]:
    return [{"stream": line + "\n"} for line in lines]


def test_steps_cache_hits_and_output_become_events():
    events: list[BuildEvent] = []
    log = BuildLog(progress=events.append)
    for record in stream("Step 1/3 : FROM base", " ---> abc", "Step 2/3 : RUN pip install -r requirements.txt",
                         " ---> Using cache", " ---> def", "Step 3/3 : COPY app/ /var/azureml-app/",
                         " ---> Running in 123", "copying", "Successfully built 456"):
        log.feed(record)
    log.feed({"aux": {"ID": "sha256:456"}})
    assert [(step.number, step.cached) for step in log.steps] == [(1, False), (2, True), (3, False)]
    assert [event.kind for event in events] == ["step", "step", "cached", "step", "running", "output", "done"]
    assert log.image_id == "sha256:456"


def test_a_failed_pip_step_names_the_step_command_exit_code_and_package():
    log = BuildLog(origins={"no-such-package-xyz": "environment.yml:9"})
    output = [f"Collecting dependency {i}" for i in range(30)] + [
        "ERROR: Could not find a version that satisfies the requirement no-such-package-xyz (from versions: none)",
        "ERROR: No matching distribution found for no-such-package-xyz"]
    for record in stream("Step 12/29 : RUN pip install -r requirements.txt -r runtime-requirements.txt",
                         " ---> Running in 42", *output):
        log.feed(record)
    with pytest.raises(BuildStepError) as caught:
        log.feed({"error": "The command '/bin/sh -c pip install -r requirements.txt' returned a non-zero code: 1",
                  "errorDetail": {"code": 1, "message": "The command ... returned a non-zero code: 1"}})
    error = caught.value
    assert (error.step, error.exit_code, error.package) == (12, 1, "no-such-package-xyz")
    assert error.instruction == "RUN pip install -r requirements.txt -r runtime-requirements.txt"
    assert len(error.log_tail) == 20 and error.log_tail[-1].endswith("no-such-package-xyz")
    message = str(error)
    assert message.startswith("step 12/29 failed: RUN pip install")
    assert "exit code 1" in message and "pip could not install 'no-such-package-xyz'" in message
    assert "comes from environment.yml:9" in message


def test_apt_and_tls_failures_get_advice():
    log = BuildLog()
    for record in stream("Step 3/20 : RUN apt-get update && apt-get install -y libfoo", "E: Unable to locate package libfoo"):
        log.feed(record)
    with pytest.raises(BuildStepError, match="apt could not find the Debian package 'libfoo'") as caught:
        log.feed({"error": "returned a non-zero code: 100", "errorDetail": {"code": 100}})
    assert caught.value.package == "libfoo"
    log = BuildLog()
    for record in stream("Step 12/20 : RUN pip install -r requirements.txt",
                         "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED]'))"):
        log.feed(record)
    with pytest.raises(BuildStepError, match="--extra-ca"):
        log.feed({"error": "returned a non-zero code: 1", "errorDetail": {"code": 1}})


def test_conflicting_pins_point_at_the_package():
    from shipyard.builder.progress import diagnose

    line = ("ERROR: Cannot install fastapi==0.95.0 and shipyard because these package versions "
            "have conflicting dependencies.")
    package, hint = diagnose([line])
    assert package == "fastapi" and "relax the pin" in hint
    assert diagnose(["scikit-learn 1.9.1 has requirement numpy>=1.22, but you have numpy 1.21.0."])[0] == "scikit-learn"
