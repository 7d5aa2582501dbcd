"""Kubernetes manifests: valid for several Kubernetes versions, and shaped the way operators expect."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

from shipyard.deploy_targets._keys import resolve_keys
from shipyard.deploy_targets.base import DeploymentKeys
from shipyard.deploy_targets.kubernetes_manifests import KubernetesOptions, render_manifests
from shipyard.deploy_targets.options import GpuRequest
from shipyard.errors import SpecError

VERSIONS = ["1.28.0", "1.30.0", "1.32.0", "1.34.0", "1.37.0"]
KEYS = DeploymentKeys("p" * 43, "s" * 43)


def _render(**fields):
    options = KubernetesOptions(**fields)
    manifests = render_manifests("iris", "ml", "registry.example/iris:1", options, resolve_keys(options, KEYS),
                                 created="2026-01-01T00:00:00+00:00")
    return {m["kind"]: m for m in manifests}


CASES = {
    "defaults": {},
    "fixed replicas, limits, GPU, placement": dict(
        replicas=3, cpu_cores=0.5, memory_gb="1Gi", cpu_cores_limit=2, memory_gb_limit=2, gpus=GpuRequest(count=1),
        node_selector={"agentpool": "gpu"}, tolerations=[{"key": "sku", "value": "gpu", "effect": "NoSchedule"}],
        image_pull_secrets=["acr"], service_type="LoadBalancer", env={"SHIPYARD_WORKERS": "2"}),
    "no auth": dict(auth_enabled=False),
    "an image without gRPC": dict(grpc_container_port=None),
    "probe timings and autoscaler behaviour (from Azure imports)": dict(
        probes={"period_seconds": 20, "initial_delay_seconds": 40, "timeout_seconds": 5, "failure_threshold": 5},
        readiness_probe={"period_seconds": 3, "initial_delay_seconds": 1, "timeout_seconds": 2,
                         "failure_threshold": 2, "success_threshold": 2},
        autoscale_refresh_seconds=15),
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_manifests_validate_against_the_official_schemas(case, version):
    for manifest in _render(**CASES[case]).values():
        kubernetes_validate.validate(manifest, version, strict=True)


def test_a_typo_in_a_manifest_would_be_caught_by_the_schema_check():
    service = _render()["Service"]
    service["spec"]["prot"] = [{"port": 80}]
    with pytest.raises(kubernetes_validate.ValidationError, match="'prot' was unexpected"):
        kubernetes_validate.validate(service, VERSIONS[-1], strict=True)


def test_deployment_probes_the_runtime_and_runs_as_non_root():
    deployment = _render()["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    # readiness over gRPC's health service: SERVING once the model is ready and gRPC accepts calls
    assert container["readinessProbe"]["grpc"] == {"port": 8001}
    assert container["ports"] == [{"name": "http", "containerPort": 5001, "protocol": "TCP"},
                                  {"name": "grpc", "containerPort": 8001, "protocol": "TCP"}]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_keys_reach_the_pods_from_the_secret_only():
    manifests = _render()
    secret = manifests["Secret"]
    assert secret["metadata"]["labels"]["dev.shipyard/deployment"] == "iris"
    assert base64.b64decode(secret["data"]["api-keys"]).decode() == f"{KEYS.primary},{KEYS.secondary}"
    env = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SHIPYARD_API_KEYS",
            "valueFrom": {"secretKeyRef": {"name": "iris-keys", "key": "api-keys"}}} in env
    assert KEYS.primary not in json.dumps(manifests["Deployment"])


def test_autoscaler_unless_replicas_are_fixed():
    autoscaled = _render(min_replicas=2, max_replicas=5, target_utilization=60, cpu_cores=0.25)
    hpa = autoscaled["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert "replicas" not in autoscaled["Deployment"]["spec"]  # the autoscaler owns the count
    resources = autoscaled["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == "250m"  # utilisation needs a CPU request

    fixed = _render(replicas=4)
    assert "HorizontalPodAutoscaler" not in fixed
    assert fixed["Deployment"]["spec"]["replicas"] == 4


def test_gpu_wish_becomes_a_limit_and_a_toleration():
    pod = _render(gpus=GpuRequest(count=2))["Deployment"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    amd = _render(gpus=GpuRequest(vendor="amd", count=1))["Deployment"]["spec"]["template"]["spec"]
    assert amd["containers"][0]["resources"]["limits"]["amd.com/gpu"] == "1"
    with pytest.raises(SpecError, match="ask for a number of GPUs"):
        _render(gpus=GpuRequest(count="all"))


def test_no_auth_means_no_secret_and_no_keys_env():
    manifests = _render(auth_enabled=False)
    assert "Secret" not in manifests
    env = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert all(item["name"] != "SHIPYARD_API_KEYS" for item in env)


def test_cli_output_writes_yaml_files_that_validate(tmp_path):
    out = tmp_path / "manifests"
    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "deploy", "registry.example/iris:1", "--name", "iris",
         "--target", "kubernetes", "--namespace", "ml", "--replicas", "2", "--memory-limit", "1Gi",
         "--node-selector", "agentpool=cpu", "--output", str(out)],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    files = sorted(path.name for path in out.iterdir())
    assert files == ["deployment.yaml", "poddisruptionbudget.yaml", "secret.yaml", "service.yaml"]
    assert (out / "secret.yaml").stat().st_mode & 0o777 == 0o600  # it holds the keys
    for path in out.iterdir():
        manifest = yaml.safe_load(path.read_text())
        assert manifest["metadata"]["namespace"] == "ml"
        for version in VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)
    deployment = yaml.safe_load((out / "deployment.yaml").read_text())
    assert deployment["spec"]["replicas"] == 2
    assert json.loads(deployment["metadata"]["annotations"]["dev.shipyard/options"])["node_selector"] == {
        "agentpool": "cpu"}


def test_cli_refuses_container_flags_for_kubernetes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "shipyard", "deploy", "iris:1", "--name", "iris", "--target", "kubernetes",
         "--port", "8080", "--output", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--port does not apply to --target kubernetes" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_grpc_is_published_by_the_service_and_can_be_left_out():
    service = _render()["Service"]
    assert {"name": "grpc", "port": 8001, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"} in (
        service["spec"]["ports"])
    without = _render(grpc_container_port=None)
    container = without["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert [port["name"] for port in container["ports"]] == ["http"]
    assert [port["name"] for port in without["Service"]["spec"]["ports"]] == ["http"]
