"""``shipyard import`` of Azure ML v2 online deployment (+ endpoint) YAML.

Fixtures follow azure-ai-ml 1.35's schemas; ``blue-deployment.yml`` is the docs' quickstart shape,
``tuned-deployment.yml`` uses every tuning section (and one misspelt field).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.builder import load_spec
from shipyard.builder.render import render_dockerfile
from shipyard.deploy_targets.config_file import load_deployment_config
from shipyard.errors import SpecError
from shipyard.importers import import_files
from shipyard.importers.vm_sizes import VM_SIZES, find_vm_size
from shipyard.model_registry import LocalModelStore
from tests.importers.imported import assert_reports_every_field, kubernetes_manifests

V2 = Path(__file__).parent / "fixtures" / "v2"


def test_quickstart_deployment_and_endpoint(tmp_path):
    report = import_files([V2 / "blue-deployment.yml", V2 / "endpoint.yml"], tmp_path / "out")
    spec = load_spec(tmp_path / "out")
    assert spec.name == "my-endpoint" and spec.entry_script.name == "score.py"
    assert "FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest" in render_dockerfile(spec)
    manifests = kubernetes_manifests(tmp_path / "out")
    deployment = manifests["Deployment"]
    assert deployment["spec"]["replicas"] == 1 and "HorizontalPodAutoscaler" not in manifests
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    size = find_vm_size("Standard_DS3_v2")
    assert resources["requests"]["cpu"] == "4000m"  # Standard_DS3_v2: 4 vCPU, 14 GiB
    assert resources["requests"]["memory"] == f"{round(size.memory_gb * 1000)}M"
    assert "Secret" in manifests  # auth_mode: key
    for source in ("blue-deployment.yml", "endpoint.yml"):
        assert_reports_every_field(report, V2 / source)
    assert not report.by_status("unknown")


def test_every_tuning_section_reaches_the_manifests(tmp_path):
    report = import_files([V2 / "tuned-deployment.yml"], tmp_path / "out")
    spec = load_spec(tmp_path / "out")
    assert (spec.name, spec.version, spec.gpu.cuda) == ("fraud-scorer", "7", "12.4")
    render_dockerfile(spec)
    manifests = kubernetes_manifests(tmp_path / "out")
    container = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] == "6000m"  # Standard_NC6s_v3
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["FRAUD_THRESHOLD"] == "0.8" and env["SHIPYARD_REQUEST_TIMEOUT_S"] == "3"
    assert env["SHIPYARD_MAX_CONCURRENT_REQUESTS"] == "2" and env["SHIPYARD_MAX_QUEUE_WAIT_MS"] == "400"
    live, ready = container["livenessProbe"], container["readinessProbe"]
    assert (live["initialDelaySeconds"], live["periodSeconds"], live["timeoutSeconds"], live["failureThreshold"]) \
        == (20, 15, 4, 6)
    assert (ready["initialDelaySeconds"], ready["periodSeconds"], ready["timeoutSeconds"],
            ready["failureThreshold"], ready["successThreshold"]) == (5, 5, 2, 3, 2)
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert_reports_every_field(report, V2 / "tuned-deployment.yml")
    assert [row.field for row in report.by_status("unknown")] == ["instance_typo"]
    rows = {row.field: row for row in report.rows}
    assert rows["data_collector"].status == "not applicable" and rows["instance_count"].status == "not applicable"


@pytest.mark.parametrize("source", ["blue-deployment.yml", "tuned-deployment.yml"])
def test_imported_manifests_validate_against_the_kubernetes_schemas(tmp_path, source):
    import kubernetes_validate

    import_files([V2 / source], tmp_path / "out")
    for manifest in kubernetes_manifests(tmp_path / "out").values():
        kubernetes_validate.validate(manifest, "1.32.0", strict=True)


def test_kubernetes_resources_and_registry_references(tmp_path):
    store = LocalModelStore(tmp_path / "store")
    with pytest.raises(SpecError, match="azureml:fraud:7.*no model 'fraud'"):
        import_files([V2 / "kubernetes-deployment.yml"], tmp_path / "out", registry=str(store.root))
    for _ in range(7):  # azureml:fraud:7 is version 7
        store.register("fraud", V2 / "model")
    report = import_files([V2 / "kubernetes-deployment.yml"], tmp_path / "out", registry=str(store.root))
    spec = load_spec(tmp_path / "out")
    (entry,) = spec.models  # a registered model: the image lays it out as azureml-models/fraud/7/model/
    assert (entry.name, entry.version) == ("fraud", 7)
    assert entry.path == (tmp_path / "out" / "models" / "fraud" / "7" / "model").resolve()
    assert (entry.path / "model.json").read_text() == (V2 / "model" / "model.json").read_text()
    assert "azureml-models/fraud/7" in render_dockerfile(spec)
    container = kubernetes_manifests(tmp_path / "out")["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": f"{round(2**30 / 1e6)}M"}
    assert container["resources"]["limits"] == {"cpu": "2000m", "memory": f"{round(2**31 / 1e6)}M"}
    rows = {row.field: row for row in report.rows}
    assert rows["environment"].status == "not applicable" and "conda" in rows["environment"].why


def test_vm_size_table_is_consistent():
    assert find_vm_size("standard_ds3_v2") is VM_SIZES["standard_ds3_v2"]
    assert find_vm_size("Standard_Unknown") is None
    assert all(size.gpus == 0 or size.gpu_model for size in VM_SIZES.values())
    assert all(name == size.name.lower() for name, size in VM_SIZES.items())


def test_unknown_vm_sizes_are_reported_not_guessed(tmp_path):
    text = (V2 / "blue-deployment.yml").read_text().replace("Standard_DS3_v2", "Standard_Z9_v9")
    (tmp_path / "model").symlink_to(V2 / "model")
    (tmp_path / "onlinescoring").symlink_to(V2 / "onlinescoring")
    (tmp_path / "environment").symlink_to(V2 / "environment")
    (tmp_path / "d.yml").write_text(text)
    report = import_files([tmp_path / "d.yml"], tmp_path / "out")
    row = next(row for row in report.rows if row.field == "instance_type")
    assert row.status == "not applicable" and "vm_sizes" in row.why
    assert "cpu_cores" not in load_deployment_config(tmp_path / "out" / "deployment.yaml").options
