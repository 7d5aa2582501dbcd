"""Following the engine's build log: steps, cache hits, and errors that say what failed."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import sys
import threading

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


@pytest.fixture
def untrusted_https_index(tmp_path):
    """A real HTTPS package index on loopback whose self-signed certificate pip does not trust."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()
    server.server_close()


def test_real_pip_failing_tls_verification_points_at_extra_ca(untrusted_https_index, tmp_path):
    # pip skips an index it cannot verify and then says "No matching distribution found", which
    # alone would send the user to check a name and pin that are fine.
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "download", "--no-deps", "--retries", "0", "--timeout", "10",
         "--index-url", untrusted_https_index, "--dest", str(tmp_path / "downloads"), "joblib==1.4.2"],
        capture_output=True, text=True, timeout=120)
    assert pip.returncode != 0 and "No matching distribution found for joblib" in pip.stdout + pip.stderr
    log = BuildLog(origins={"joblib": "environment.yml:9"})
    for record in stream("Step 12/29 : RUN pip install -r requirements.txt -r runtime-requirements.txt",
                         *(pip.stdout + pip.stderr).splitlines()):
        log.feed(record)
    with pytest.raises(BuildStepError) as caught:
        log.feed({"error": "returned a non-zero code: 1", "errorDetail": {"code": 1}})
    message = str(caught.value)
    assert "TLS certificate verification failed" in message and "--extra-ca" in message
    assert "Check the name and version pin" not in message
    assert caught.value.package == "joblib" and "comes from environment.yml:9" in message
