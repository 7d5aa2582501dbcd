"""The edge target: IoT Edge manifests, offline bundles, and an arm64 image deployed to a "device".

The device is a second Docker Engine in its own network namespace (``netns_engine``), reached
over TCP at its veth address; the image is built for linux/arm64 and runs there under qemu
emulation. ``install.sh`` is run inside that namespace, as an operator would on the device.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.deploy_targets import _docker
from shipyard.deploy_targets._bundle import BundleError, verify_bundle
from shipyard.deploy_targets._iotedge import (
    EdgeModule,
    join_create_options,
    render_deployment_manifest,
    split_create_options,
    validate_deployment_manifest,
)
from shipyard.deploy_targets.edge import (
    EdgeOptions,
    EdgeSettings,
    EdgeTarget,
    device_grpc_port,
    host_config,
    run_args,
)
from shipyard.deploy_targets.options import GpuRequest
from shipyard.errors import DeployError, SpecError

ARM64_BASE_TAG = "shipyard-test-base:bookworm-arm64"
ARM64_IMAGE_TAG = "shipyard-test-edge-probe:arm64"

SCORE_PY = '''\
import json
import platform


def init():
    pass


def run(data):
    values = json.loads(data)["data"]
    return {"doubled": [2 * v for v in values], "machine": platform.machine()}
'''


# -- the IoT Edge deployment manifest --------------------------------------------------------------
def agent_modules(manifest: dict) -> dict:
    return manifest["modulesContent"]["$edgeAgent"]["properties.desired"]["modules"]


def test_manifest_runs_the_module_with_ports_env_gpus_and_routes():
    options = EdgeOptions(gpus=GpuRequest.parse("all"), cpu_cores=2, port=8080)
    manifest = render_deployment_manifest(EdgeModule(
        name="iris", image="iris:1", host_port=8080, env={"SHIPYARD_API_KEYS": "k1,k2"},
        host_config=host_config(options), restart_policy="always"))

    validate_deployment_manifest(manifest)  # also done by render; shown here as the API
    module = agent_modules(manifest)["iris"]
    assert (module["type"], module["status"], module["restartPolicy"]) == ("docker", "running", "always")
    assert module["imagePullPolicy"] == "never"  # the image arrives in the bundle
    assert module["env"] == {"SHIPYARD_API_KEYS": {"value": "k1,k2"}}
    create = join_create_options(module["settings"])
    assert create["HostConfig"]["PortBindings"] == {"5001/tcp": [{"HostPort": "8080"}]}
    assert create["HostConfig"]["DeviceRequests"][0]["Capabilities"] == [["gpu"]]
    assert create["HostConfig"]["NanoCpus"] == 2_000_000_000
    hub = manifest["modulesContent"]["$edgeHub"]["properties.desired"]
    assert hub["routes"] == {"irisToUpstream": "FROM /messages/modules/iris/outputs/* INTO $upstream"}
    assert hub["schemaVersion"] == "1.2"


def test_manifest_publishes_grpc_beside_http():
    manifest = render_deployment_manifest(EdgeModule(name="iris", image="iris:1", more_ports={8001: 9001}))
    create = join_create_options(agent_modules(manifest)["iris"]["settings"])
    assert create["HostConfig"]["PortBindings"] == {"5001/tcp": [{"HostPort": "5001"}],
                                                    "8001/tcp": [{"HostPort": "9001"}]}
    assert create["ExposedPorts"] == {"5001/tcp": {}, "8001/tcp": {}}


def test_grpc_follows_the_http_port_unless_given():
    assert device_grpc_port(EdgeOptions()) == 8001
    assert device_grpc_port(EdgeOptions(port=5002)) == 8002  # a second deployment on the device
    assert device_grpc_port(EdgeOptions(port=65000)) == 62000
    assert device_grpc_port(EdgeOptions(port=5002, grpc_port=9000)) == 9000


def test_long_create_options_are_cut_in_512_character_pieces_and_join_back():
    options = {"Env": [f"VARIABLE_{i}=" + "x" * 40 for i in range(30)]}
    pieces = split_create_options(options)
    assert list(pieces)[:3] == ["createOptions", "createOptions01", "createOptions02"]
    assert all(len(piece) <= 512 for piece in pieces.values())
    assert join_create_options(pieces) == options


@pytest.mark.parametrize(("path", "value", "message"), [
    (("restartPolicy",), "sometimes", r"modules\.iris\.restartPolicy.*'sometimes' is not one of"),
    (("settings", "createOptions"), "{not json", r"createOptions is not valid JSON"),
    (("settings", "createOptions"), "x" * 513, r"createOptions.*is too long"),
], ids=["bad-restart-policy", "invalid-json", "piece-over-512"])
def test_an_invalid_manifest_is_refused_naming_the_field(path, value, message):
    manifest = render_deployment_manifest(EdgeModule(name="iris", image="iris:1"))
    target = agent_modules(manifest)["iris"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SpecError, match=message):
        validate_deployment_manifest(manifest)


def test_gpu_and_limits_become_docker_run_arguments():
    assert run_args(EdgeOptions(gpus=GpuRequest.parse("device=0,1"), memory_gb="2G")) == (
        "--gpus", '"device=0,1"', "--memory", "2000000000")
    assert run_args(EdgeOptions(gpus=GpuRequest.parse("amd:all"))) == (
        "--device", "/dev/kfd:/dev/kfd:rwm", "--device", "/dev/dri:/dev/dri:rwm", "--group-add", "video")


def test_deploy_without_a_device_says_how_to_get_the_files():
    with pytest.raises(DeployError, match=r"no edge device given: pass --device .*--output DIR"):
        EdgeTarget(EdgeSettings()).status("iris")


@pytest.mark.docker
def test_output_without_a_device_writes_the_bundle_and_manifest(docker_base_image, tmp_path):
    result = CliRunner().invoke(app, ["deploy", docker_base_image, "--target", "edge", "--name", "offline",
                                      "--output", str(tmp_path), "--port", "8080", "--json"])
    assert result.exit_code == 0, result.output
    written = sorted(Path(path).name for path in json.loads(result.output)["files"])
    assert written == ["SHA256SUMS", "bundle.conf", "container.env", "container.labels", "deployment.json",
                       "image.tar.gz", "install.sh", "manifest.json"]
    bundle = verify_bundle(tmp_path)
    assert bundle.manifest["image"]["ref"] == docker_base_image
    manifest = json.loads((tmp_path / "deployment.json").read_text())
    module = agent_modules(manifest)["offline"]
    assert join_create_options(module["settings"])["HostConfig"]["PortBindings"] == {
        "5001/tcp": [{"HostPort": "8080"}]}
    keys = module["env"]["SHIPYARD_API_KEYS"]["value"]
    assert f"SHIPYARD_API_KEYS={keys}" in (tmp_path / "container.env").read_text()
    check = subprocess.run(["sh", str(tmp_path / "install.sh"), "--verify"], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr
    assert "bundle for 'offline'" in check.stderr and "is intact" in check.stderr


# -- an arm64 image on a device behind a veth ------------------------------------------------------
@pytest.fixture(scope="session")
def arm64_base_image(docker_client) -> str:
    """A linux/arm64 Debian/Python base from Shipyard's own debootstrap builder, reused by tag."""
    from tests.fixtures.docker_engine import cached_base_image

    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.skip("arm64 emulation is not registered: apt-get install qemu-user-static binfmt-support")
    return cached_base_image(docker_client, ARM64_BASE_TAG, platform="linux/arm64")


@pytest.fixture(scope="session")
def arm64_image(docker_client, arm64_base_image, host_ca_bundle, tmp_path_factory) -> str:
    """A tiny entry-script image (runtime dependencies only) built for linux/arm64."""
    from shipyard.builder import build_image, load_spec

    spec_dir = tmp_path_factory.mktemp("edge-probe")
    (spec_dir / "model").mkdir()
    (spec_dir / "model" / "weights.txt").write_text("none needed")
    (spec_dir / "score.py").write_text(SCORE_PY)
    (spec_dir / "shipyard.yaml").write_text("name: edge-probe\nmodels: [model]\nentry_script: score.py\n")
    build_image(load_spec(spec_dir), ARM64_IMAGE_TAG, base_image=arm64_base_image, platform="linux/arm64",
                extra_ca=host_ca_bundle, client=docker_client)
    return ARM64_IMAGE_TAG


@pytest.fixture(scope="module")
def deployed(arm64_image, netns_engine, tmp_path_factory) -> dict:
    """``shipyard deploy IMAGE --target edge --device tcp://... --output DIR --json``, once."""
    bundle_dir = tmp_path_factory.mktemp("bundle")
    result = CliRunner().invoke(app, [
        "deploy", arm64_image, "--target", "edge", "--name", "edge-probe", "--device", netns_engine.docker_host,
        "--output", str(bundle_dir), "--timeout", "600", "--json"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return {"deployment": json.loads(result.output), "bundle": bundle_dir, "engine": netns_engine}


def score(deployment: dict, values: list[int]) -> httpx.Response:
    return httpx.post(deployment["scoring_uri"], json={"data": values}, timeout=60,
                      headers={"Authorization": f"Bearer {deployment['keys']['primary']}"})


def run_install(bundle: Path, engine, *args: str) -> subprocess.CompletedProcess[str]:
    """``sh install.sh`` on the device: inside its network namespace, talking to its engine."""
    env = {**os.environ, "DOCKER_HOST": engine.socket, "SHIPYARD_HEALTH_TIMEOUT_S": "600"}
    return subprocess.run(["nsenter", f"--net=/run/netns/{engine.netns}", "sh", str(bundle / "install.sh"), *args],
                          capture_output=True, text=True, env=env, timeout=900, check=False)


@pytest.mark.docker
@pytest.mark.slow
def test_an_arm64_image_serves_from_the_device_over_the_veth(deployed):
    deployment, engine = deployed["deployment"], deployed["engine"]
    assert deployment["target"] == "edge"
    assert deployment["state"] == "Healthy"
    assert deployment["scoring_uri"] == f"http://{engine.ip}:5001/score"

    answer = score(deployment, [1, 2, 3])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"doubled": [2, 4, 6], "machine": "aarch64"}
    assert httpx.post(deployment["scoring_uri"], json={"data": [1]}).status_code == 401
    assert engine.client.images.get(ARM64_IMAGE_TAG).attrs["Architecture"] == "arm64"


@pytest.mark.docker
@pytest.mark.slow
def test_the_bundle_holds_the_manifest_checksums_and_keys(deployed):
    bundle = verify_bundle(deployed["bundle"])
    deployment = deployed["deployment"]
    assert bundle.manifest["image"]["platform"] == "linux/arm64"
    assert bundle.manifest["image"]["id"] == deployed["engine"].client.images.get(ARM64_IMAGE_TAG).id
    env = (deployed["bundle"] / "container.env").read_text()
    assert f"SHIPYARD_API_KEYS={deployment['keys']['primary']},{deployment['keys']['secondary']}" in env
    assert oct((deployed["bundle"] / "container.env").stat().st_mode & 0o777) == "0o600"
    validate_deployment_manifest(json.loads((deployed["bundle"] / "deployment.json").read_text()))


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("damage", ["corrupted", "truncated"])
def test_a_damaged_bundle_is_refused_on_the_device_and_the_service_keeps_running(deployed, tmp_path, damage):
    engine, deployment = deployed["engine"], deployed["deployment"]
    before = engine.client.containers.get("edge-probe").id
    copy = tmp_path / "bundle"
    shutil.copytree(deployed["bundle"], copy)
    archive = copy / "image.tar.gz"
    if damage == "corrupted":
        with open(archive, "r+b") as handle:
            handle.seek(archive.stat().st_size // 2)
            byte = handle.read(1)
            handle.seek(-1, 1)
            handle.write(bytes([byte[0] ^ 0xFF]))
    else:
        os.truncate(archive, archive.stat().st_size // 3)

    with pytest.raises(BundleError, match="image.tar.gz does not match its SHA-256"):
        verify_bundle(copy)
    result = run_install(copy, engine)
    assert result.returncode == 1
    assert "checksum mismatch: the bundle is corrupted or truncated; nothing was changed" in result.stderr
    assert "loaded" not in result.stderr
    assert engine.client.containers.get("edge-probe").id == before
    assert score(deployment, [5]).json()["doubled"] == [10]


@pytest.mark.docker
@pytest.mark.slow
def test_install_sh_replaces_the_container_and_keeps_uri_and_keys(deployed):
    engine, deployment = deployed["engine"], deployed["deployment"]
    before = engine.client.containers.get("edge-probe").id

    result = run_install(deployed["bundle"], engine)
    assert result.returncode == 0, result.stderr
    assert "verified 7 files" in result.stderr and "ready: edge-probe" in result.stderr
    assert engine.client.containers.get("edge-probe").id != before
    assert score(deployment, [21]).json() == {"doubled": [42], "machine": "aarch64"}

    status = CliRunner().invoke(app, ["status", "edge-probe", "--target", "edge", "--device", engine.docker_host,
                                      "--json"])
    assert json.loads(status.output)["state"] == "Healthy"


# -- the same bundle over SSH: install.sh runs on the device -------------------------------------
@pytest.fixture(scope="module")
def ssh_device(netns_engine, tmp_path_factory):
    """An sshd inside the device's namespace whose sessions talk to the device's engine.

    The client side is ``ssh`` from PATH, as for users; a wrapper adds this test's config (key,
    port, no host-key prompt), the way a user's ``~/.ssh/config`` would.
    """
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.skip("sshd is not installed (apt-get install openssh-server)")
    folder = tmp_path_factory.mktemp("ssh")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    (folder / "sshd_config").write_text(
        f"Port 2222\nListenAddress {netns_engine.ip}\nHostKey {folder / 'host_key'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PidFile {folder / 'sshd.pid'}\nSetEnv DOCKER_HOST={netns_engine.socket}\n")
    (folder / "client_config").write_text(
        f"Host {netns_engine.ip}\n  Port 2222\n  User root\n  IdentityFile {folder / 'client_key'}\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    (folder / "bin").mkdir()
    wrapper = folder / "bin" / "ssh"
    wrapper.write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {folder / 'client_config'} \"$@\"\n")
    wrapper.chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    log = (folder / "sshd.log").open("wb")
    sshd = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns_engine.netns}", "/usr/sbin/sshd", "-D", "-e",
                             "-f", str(folder / "sshd_config")], stderr=log)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", f"{folder / 'bin'}{os.pathsep}{os.environ['PATH']}")
        for _ in range(50):
            if subprocess.run(["ssh", netns_engine.ip, "true"], capture_output=True, check=False).returncode == 0:
                break
            time.sleep(0.2)
        else:
            sshd.terminate()
            pytest.fail(f"sshd in the device namespace did not answer:\n{(folder / 'sshd.log').read_text()}")
        yield {"url": f"ssh://root@{netns_engine.ip}:2222", "remote_dir": str(folder / "bundles")}
    sshd.terminate()
    sshd.wait(timeout=10)
    log.close()


@pytest.mark.docker
@pytest.mark.slow
def test_deploy_over_ssh_runs_install_sh_on_the_device(arm64_image, netns_engine, ssh_device):
    target = EdgeTarget(EdgeSettings(device=ssh_device["url"], remote_dir=ssh_device["remote_dir"]))
    deployment = target.deploy("edge-ssh", arm64_image, EdgeOptions(port=5002, compress_level=1, timeout_s=600))

    assert deployment.scoring_uri == f"http://{netns_engine.ip}:5002/score"
    assert deployment.state == "Healthy"
    answer = httpx.post(deployment.scoring_uri, json={"data": [4]}, timeout=60,
                        headers={"Authorization": f"Bearer {deployment.keys.secondary}"})
    assert answer.json() == {"doubled": [8], "machine": "aarch64"}
    kept = Path(ssh_device["remote_dir"]) / "edge-ssh"
    assert verify_bundle(kept).manifest["name"] == "edge-ssh"  # the bundle stays on the device
    assert "edge-ssh" in [d.name for d in target.list()]
    target.delete("edge-ssh")
    assert "edge-ssh" not in [d.name for d in target.list()]


def test_probe_timing_reaches_the_manifest_and_docker_run():
    options = EdgeOptions(probes={"period_seconds": 7, "timeout_seconds": 3, "initial_delay_seconds": 11,
                                  "failure_threshold": 4})
    manifest = render_deployment_manifest(EdgeModule(name="iris", image="iris:1",
                                                     healthcheck=_docker.healthcheck(options.probes)))
    create = join_create_options(agent_modules(manifest)["iris"]["settings"])
    assert create["Healthcheck"] == {"Test": [], "Interval": 7_000_000_000, "Timeout": 3_000_000_000,
                                     "StartPeriod": 11_000_000_000, "Retries": 4}
    assert run_args(options) == ("--health-interval", "7s", "--health-timeout", "3s",
                                 "--health-start-period", "11s", "--health-retries", "4")
