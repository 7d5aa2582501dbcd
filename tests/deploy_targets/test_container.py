"""The container target on real Docker Engines, with the real iris example image.

Each test deploys through the ``shipyard`` CLI (a subprocess, as a user would) or the Python API,
talks to the service over HTTP, and checks what was left on the engine.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import httpx
import pytest

from shipyard.deploy_targets import delete, deploy, list_deployments, status
from shipyard.errors import DeployError

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LABEL = "dev.shipyard.deployment"
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "iris" / "sample-request.json"
V2_SCORE = '''
import json, os, time
import joblib
import numpy as np

def init():
    global model
    if os.getenv("IRIS_INIT_SLEEP"):
        time.sleep(float(os.environ["IRIS_INIT_SLEEP"]))
    if os.getenv("IRIS_FAIL_INIT"):
        raise RuntimeError("IRIS_FAIL_INIT is set, refusing to load the model")
    model = joblib.load(os.path.join(os.getenv("AZUREML_MODEL_DIR"), "model.pkl"))

def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    return {"version": 2, "predictions": model.predict(data).tolist()}
'''


@pytest.fixture(scope="module")
def iris_v2_image(docker_client, docker_base_image, example_dir, host_ca_bundle, runtime_wheel,
                  tmp_path_factory) -> str:
    """The example rebuilt with a changed score.py: answers with a version, and can fail or stall in init()."""
    from shipyard.builder import build_image, load_spec

    folder = tmp_path_factory.mktemp("iris-v2") / "iris"
    shutil.copytree(example_dir, folder)
    (folder / "score.py").write_text(V2_SCORE)
    return build_image(load_spec(folder), "shipyard-test-iris:v2", base_image=docker_base_image,
                       extra_ca=host_ca_bundle, client=docker_client, runtime_wheel=runtime_wheel).tag


@pytest.fixture
def name(docker_client):
    """A deployment name unique to this test; whatever it left on the engine is removed afterwards."""
    deployment = f"t{uuid.uuid4().hex[:8]}-iris"
    yield deployment
    for container in docker_client.containers.list(all=True, filters={"label": f"{LABEL}={deployment}"}):
        container.remove(force=True)


def shipyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``shipyard`` CLI as a user would."""
    environment = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True,
                          env={**environment, **(env or {})}, timeout=600)


def containers_of(client: docker.DockerClient, deployment: str) -> list[str]:
    return [c.name for c in client.containers.list(all=True, filters={"label": f"{LABEL}={deployment}"})]


def _check_grpc(port: int, key: str, *, expected: list[int]) -> None:
    """Score the iris sample over gRPC with tritonclient (the V2 convention for entry scripts)."""
    import numpy as np
    import tritonclient.grpc as triton_grpc
    from tritonclient.utils import InferenceServerException

    rows = np.array(json.loads(SAMPLE.read_text())["data"], dtype=np.float64)
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{port}") as client:
        assert client.is_server_ready()
        data = triton_grpc.InferInput("data", list(rows.shape), "FP64")
        data.set_data_from_numpy(rows)
        result = client.infer("iris", [data], headers={"authorization": f"Bearer {key}"})
        assert result.as_numpy("output0").tolist() == expected
        with pytest.raises(InferenceServerException, match="API key"):
            client.infer("iris", [data])


def test_deploy_invoke_update_and_delete_the_example(docker_client, example_image, iris_v2_image, name):
    deployed = shipyard("deploy", example_image, "--name", name, "--cpu", "1", "--memory", "1G", "--json")
    assert deployed.returncode == 0, deployed.stderr
    service = json.loads(deployed.stdout)
    uri, keys = service["scoring_uri"], service["keys"]
    assert service["state"] == "Healthy"
    assert uri.startswith("http://127.0.0.1:") and uri.endswith("/score")
    assert keys["primary"] != keys["secondary"] and len(keys["primary"]) >= 32

    # the CLI posts with the key; so can anyone who has it; nobody else gets in
    invoked = shipyard("invoke", name, "--data", str(SAMPLE))
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout) == [0, 2]
    body = SAMPLE.read_bytes()
    headers = {"Content-Type": "application/json"}
    for key in (keys["primary"], keys["secondary"]):
        answer = httpx.post(uri, content=body, headers={**headers, "Authorization": f"Bearer {key}"})
        assert answer.status_code == 200 and answer.json() == [0, 2]
    assert httpx.post(uri, content=body, headers=headers).status_code == 401
    assert httpx.post(uri, content=body, headers={**headers, "Authorization": "Bearer wrong"}).status_code == 401

    # the keys are handed over at run time, not baked into the image
    container = docker_client.containers.get(name)
    assert container.attrs["HostConfig"]["NanoCpus"] == 1_000_000_000
    assert "SHIPYARD_API_KEYS" not in json.dumps(docker_client.images.get(example_image).attrs["Config"])
    # ...nor in what `docker inspect` shows of the container: they are a 0400 file only the runtime reads
    inspected = json.dumps(docker_client.api.inspect_container(name))
    assert keys["primary"] not in inspected and keys["secondary"] not in inspected
    assert container.attrs["Config"]["User"] and "SHIPYARD_API_KEYS_FILE=/etc/shipyard/api-keys" in inspected
    mode_owner = container.exec_run(["stat", "-c", "%a %u", "/etc/shipyard/api-keys"]).output.decode().split()
    assert mode_owner == ["400", container.attrs["Config"]["User"].split(":")[0]], mode_owner

    # the image serves gRPC too, published on a host port of its own, with the same keys
    grpc_port = service["details"]["grpc_host_port"]
    assert isinstance(grpc_port, int) and grpc_port != service["details"]["host_port"]
    _check_grpc(grpc_port, keys["primary"], expected=[0, 2])

    listed = shipyard("list")
    assert name in listed.stdout and uri in listed.stdout

    # a request run() cannot handle: the service's answer, and exit code 3
    failed = subprocess.run([sys.executable, "-m", "shipyard", "invoke", name, "--data", "-"],
                            input='{"rows": []}', capture_output=True, text=True)
    assert failed.returncode == 3
    assert f"{uri} answered 500" in failed.stderr
    assert failed.stderr.rstrip().endswith(f"the service's log has the details: shipyard logs {name}")

    # deploying the same name again updates it: new image, same URI and primary key, settings kept;
    # the secondary key is rotated on the way (Azure's regen_key)
    rotated = "rotated-secondary-key-0123456789"
    updated = shipyard("deploy", iris_v2_image, "--name", name, "--secondary-key", rotated, "--json")
    assert updated.returncode == 0, updated.stderr
    after = json.loads(updated.stdout)
    assert (after["scoring_uri"], after["image"]) == (uri, iris_v2_image)
    assert after["keys"] == {"primary": keys["primary"], "secondary": rotated}
    inspected = json.dumps(docker_client.api.inspect_container(name))
    assert keys["primary"] not in inspected and rotated not in inspected
    answer = httpx.post(uri, content=body, headers={**headers, "Authorization": f"Bearer {keys['primary']}"})
    assert answer.json() == {"version": 2, "predictions": [0, 2]}
    old_secondary = httpx.post(uri, content=body, headers={**headers, "Authorization": f"Bearer {keys['secondary']}"})
    assert old_secondary.status_code == 401
    assert docker_client.containers.get(name).attrs["HostConfig"]["NanoCpus"] == 1_000_000_000
    assert containers_of(docker_client, name) == [name]  # the old container is gone
    assert after["details"]["grpc_host_port"] == grpc_port  # gRPC clients keep their address too

    # settings only: leave the image out, the deployment keeps the one it runs
    resized = shipyard("deploy", "--name", name, "--cpu", "0.5", "--json")
    assert resized.returncode == 0, resized.stderr
    assert json.loads(resized.stdout)["image"] == iris_v2_image
    assert docker_client.containers.get(name).attrs["HostConfig"]["NanoCpus"] == 500_000_000
    answer = httpx.post(uri, content=body, headers={**headers, "Authorization": f"Bearer {keys['primary']}"})
    assert answer.json() == {"version": 2, "predictions": [0, 2]}

    logs = shipyard("logs", name, "--tail", "50")
    assert logs.returncode == 0 and "POST /score" in logs.stdout

    assert shipyard("delete", name).stdout.strip() == f"deleted {name}"
    assert containers_of(docker_client, name) == []
    again = shipyard("delete", name)
    assert again.returncode == 7
    assert f"no deployment named '{name}'" in again.stderr


def test_deploying_a_spec_builds_it_first(docker_client, docker_base_image, example_dir, host_ca_bundle,
                                         tmp_path, name):
    folder = tmp_path / "iris"
    shutil.copytree(example_dir, folder)
    spec = (folder / "shipyard.yaml").read_text().replace("name: iris\n", "name: shipyard-test-spec\n")
    spec += f"base_image: {docker_base_image}\n"
    if host_ca_bundle:  # this network intercepts TLS; pip in the build must trust its CA
        shutil.copy(host_ca_bundle, folder / "extra-ca.pem")
        spec += "build:\n  ca_bundle: extra-ca.pem\n"
    (folder / "shipyard.yaml").write_text(spec)

    result = shipyard("deploy", str(folder), "--name", name, "--json")
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)
    assert service["image"] == "shipyard-test-spec:1"
    answer = httpx.post(service["scoring_uri"], content=SAMPLE.read_bytes(),
                        headers={"Authorization": f"Bearer {service['keys']['primary']}",
                                 "Content-Type": "application/json"})
    assert answer.json() == [0, 2]


def test_a_failed_update_puts_the_previous_version_back(example_image, iris_v2_image, name):
    first = deploy(example_image, name=name)
    with pytest.raises(DeployError) as info:
        deploy(iris_v2_image, name=name, options={"env": {"IRIS_FAIL_INIT": "1"}, "timeout_s": 60})
    message = str(info.value)
    assert "previous version was put back" in message
    assert "IRIS_FAIL_INIT is set" in message  # quoted from the failing container's log
    now = status(name)
    assert (now.image, now.scoring_uri, now.keys, now.state) == (example_image, first.scoring_uri, first.keys,
                                                                "Healthy")
    answer = httpx.post(now.scoring_uri, content=SAMPLE.read_bytes(),
                        headers={"Authorization": f"Bearer {now.keys.primary}", "Content-Type": "application/json"})
    assert answer.json() == [0, 2]


def test_init_failure_reports_the_log_and_leaves_nothing(docker_client, iris_v2_image, name):
    result = shipyard("deploy", iris_v2_image, "--name", name, "--env", "IRIS_FAIL_INIT=1")
    assert result.returncode == 6
    assert f"deployment '{name}' did not become ready" in result.stderr
    assert "exit code 3" in result.stderr  # the runtime exits when init() fails
    assert "Last 30 log lines" in result.stderr
    assert "init() raised RuntimeError: IRIS_FAIL_INIT is set" in result.stderr
    assert containers_of(docker_client, name) == []


def test_readiness_timeout_reports_the_log_and_leaves_nothing(docker_client, iris_v2_image, name):
    result = shipyard("deploy", iris_v2_image, "--name", name, "--env", "IRIS_INIT_SLEEP=60", "--timeout", "3")
    assert result.returncode == 6
    assert "not ready after 3 s" in result.stderr and "Last 30 log lines" in result.stderr
    assert containers_of(docker_client, name) == []


def test_a_taken_port_is_reported_before_anything_is_left(docker_client, example_image, name):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = shipyard("deploy", example_image, "--name", name, "--port", str(port))
    assert result.returncode == 6
    assert f"port {port} on unix:///var/run/docker.sock is already in use" in result.stderr
    assert "--port" in result.stderr
    assert containers_of(docker_client, name) == []


def test_a_settings_only_update_needs_an_existing_deployment(name):
    result = shipyard("deploy", "--name", name, "--cpu", "1")
    assert result.returncode == 7
    assert f"no deployment named '{name}'" in result.stderr and "give the IMAGE or SPEC" in result.stderr


def test_a_missing_image_says_how_to_get_it_there(docker_client, name):
    result = shipyard("deploy", "shipyard-test-no-such-image:1", "--name", name)
    assert result.returncode == 6
    assert "image 'shipyard-test-no-such-image:1' is not on the Docker Engine" in result.stderr
    assert "docker save" in result.stderr
    assert containers_of(docker_client, name) == []


def test_asking_for_gpus_on_an_engine_without_them_fails_cleanly(docker_client, example_image, name):
    result = shipyard("deploy", example_image, "--name", name, "--gpus", "1")
    assert result.returncode == 6
    assert "did not start" in result.stderr and "nvidia" in result.stderr
    assert containers_of(docker_client, name) == []


def test_an_unrelated_container_with_the_same_name_is_left_alone(docker_client, example_image, name):
    bystander = docker_client.containers.create(example_image, name=name)
    try:
        result = shipyard("deploy", example_image, "--name", name)
        assert result.returncode == 6
        assert "is not a Shipyard deployment" in result.stderr
        assert docker_client.containers.get(name).id == bystander.id
    finally:
        bystander.remove(force=True)


def test_no_auth_serves_without_a_key(example_image, name):
    service = deploy(example_image, name=name, options={"auth_enabled": False})
    assert service.keys is None
    answer = httpx.post(service.scoring_uri, content=SAMPLE.read_bytes(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.json() == [0, 2]
    assert [d.name for d in list_deployments() if d.name == name] == [name]
    delete(name)


def test_remote_engine_over_tcp(netns_engine, docker_client, example_image, name):
    netns_engine.load_image(example_image, docker_client)
    deployed = shipyard("deploy", example_image, "--name", name, "--port", "5001", "--json",
                        env={"DOCKER_HOST": netns_engine.docker_host})
    assert deployed.returncode == 0, deployed.stderr
    service = json.loads(deployed.stdout)
    assert service["scoring_uri"] == f"http://{netns_engine.ip}:5001/score"
    assert service["details"]["docker_host"] == netns_engine.docker_host
    assert containers_of(docker_client, name) == []  # nothing on the local engine
    assert containers_of(netns_engine.client, name) == [name]

    answer = httpx.post(service["scoring_uri"], content=SAMPLE.read_bytes(),
                        headers={"Authorization": f"Bearer {service['keys']['primary']}",
                                 "Content-Type": "application/json"})
    assert answer.json() == [0, 2]
    invoked = shipyard("invoke", name, "--docker-host", netns_engine.docker_host, "--data", str(SAMPLE))
    assert json.loads(invoked.stdout) == [0, 2]

    assert shipyard("delete", name, "--docker-host", netns_engine.docker_host).returncode == 0
    assert containers_of(netns_engine.client, name) == []


def test_deploy_config_file_sets_healthcheck_timing_and_environment(docker_client, example_image, name, tmp_path):
    config = tmp_path / "deployment.yaml"
    config.write_text(f"name: {name}\ntarget: container\noptions:\n  cpu_cores: 0.5\n"
                      "  env: {SHIPYARD_MAX_CONCURRENT_REQUESTS: '2'}\n"
                      "  probes: {period_seconds: 7, timeout_seconds: 3, initial_delay_seconds: 11, failure_threshold: 4}\n")
    done = shipyard("deploy", example_image, "--config", str(config), "--no-auth", "--json")
    assert done.returncode == 0, done.stderr
    container = docker_client.containers.get(name)
    health = container.attrs["Config"]["Healthcheck"]
    assert (health["Interval"], health["Timeout"], health["StartPeriod"], health["Retries"]) == (
        7_000_000_000, 3_000_000_000, 11_000_000_000, 4)
    assert health["Test"][0] == "CMD"  # the image's own check, with the deployment's timing
    assert "SHIPYARD_MAX_CONCURRENT_REQUESTS=2" in container.attrs["Config"]["Env"]
    assert container.attrs["HostConfig"]["NanoCpus"] == 500_000_000
    sample = SAMPLE.read_bytes()
    answer = httpx.post(json.loads(done.stdout)["scoring_uri"], content=sample,
                        headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 200
