"""``shipyard import`` of Azure ML v1 files: the spec builds, the deploy settings deploy, nothing is lost.

The fixtures are written from the documented formats (azureml-core 1.61's InferenceConfig,
Environment JSON and ``deploy_config_dict_to_obj``); ``deploymentconfig-aks.json`` also carries a
misspelt field, which must be reported by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from shipyard.builder import load_spec
from shipyard.builder.render import render_dockerfile
from shipyard.cli import app
from shipyard.cli.imports import print_report
from shipyard.deploy_targets.config_file import load_deployment_config
from shipyard.deploy_targets.container import ContainerOptions
from shipyard.errors import SpecError
from shipyard.importers import import_files
from tests.importers.imported import assert_reports_every_field, kubernetes_manifests

V1 = Path(__file__).parent / "fixtures" / "v1"
runner = CliRunner()


def test_aks_import_builds_and_its_manifests_carry_the_source_values(tmp_path):
    report = import_files([V1 / "inferenceconfig.json", V1 / "deploymentconfig-aks.json"], tmp_path / "out",
                          models=[str(V1 / "model")], name="iris")
    out = tmp_path / "out"

    spec = load_spec(out)
    assert spec.entry_script == (out / "src" / "score.py").resolve()
    assert spec.env == {"EXAMPLE_ENV_VAR": "EXAMPLE_VALUE"}
    assert yaml.safe_load((out / "environment.yml").read_text())["dependencies"][0] == "python=3.10"
    dockerfile = render_dockerfile(spec)
    assert "FROM mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04" in dockerfile
    assert 'EXAMPLE_ENV_VAR="EXAMPLE_VALUE"' in dockerfile

    manifests = kubernetes_manifests(out)
    assert manifests["Deployment"]["metadata"]["namespace"] == "ml-prod"
    container = manifests["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"cpu": "1500m", "memory": "4000M"},
                                      "limits": {"cpu": "2000m", "memory": "6000M"}}
    assert container["livenessProbe"]["periodSeconds"] == 20
    assert container["livenessProbe"]["initialDelaySeconds"] == 40
    assert container["livenessProbe"]["timeoutSeconds"] == 5
    assert container["livenessProbe"]["failureThreshold"] == 5
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["SHIPYARD_REQUEST_TIMEOUT_S"] == "90"
    assert env["SHIPYARD_MAX_CONCURRENT_REQUESTS"] == "4" and env["SHIPYARD_MAX_QUEUE_WAIT_MS"] == "750"
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert hpa["behavior"]["scaleUp"]["policies"][0]["periodSeconds"] == 15
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 15
    assert "replicas" not in manifests["Deployment"]["spec"]  # the autoscaler owns the count

    for source in ("inferenceconfig.json", "deploymentconfig-aks.json"):
        assert_reports_every_field(report, V1 / source)
    unknown = report.by_status("unknown")
    assert [row.field for row in unknown] == ["replicaMaxConcurentRequests"]
    assert all(row.why for row in report.by_status("not applicable"))


def test_fixed_replicas_turn_the_autoscaler_off(tmp_path):
    config = json.loads((V1 / "deploymentconfig-aks.json").read_text())
    config["autoScaler"]["autoscaleEnabled"] = False
    config["numReplicas"] = 3
    (tmp_path / "deploymentconfig.json").write_text(json.dumps(config))
    report = import_files([V1 / "inferenceconfig.json", tmp_path / "deploymentconfig.json"], tmp_path / "out",
                          models=[str(V1 / "model")])
    manifests = kubernetes_manifests(tmp_path / "out")
    assert manifests["Deployment"]["spec"]["replicas"] == 3 and "HorizontalPodAutoscaler" not in manifests
    rows = {row.field: row for row in report.rows}
    assert rows["autoScaler.minReplicas"].status == "not applicable"
    assert rows["numReplicas"].to == "deployment.yaml: options.replicas"


def test_flat_inference_config_and_aci(tmp_path):
    report = import_files([V1 / "deploymentconfig-aci.json", V1 / "inferenceconfig-flat.json"], tmp_path / "out",
                          models=[str(V1 / "model" / "model.json")], name="iris-aci")
    out = tmp_path / "out"
    spec = load_spec(out)
    assert spec.environment == (out / "src" / "myenv.yml").resolve()
    assert spec.labels["org.opencontainers.image.description"] == "Iris classifier moved from Azure"
    dockerfile = render_dockerfile(spec)
    steps = (V1 / "src" / "extra-steps.dockerfile").read_text().strip()
    assert steps in dockerfile
    assert dockerfile.index(steps) < dockerfile.index("HEALTHCHECK")  # in the final image, before USER

    config = load_deployment_config(out / "deployment.yaml")
    assert config.target == "container"
    options = ContainerOptions.model_validate(config.options)
    assert (options.cpu_cores, options.memory_gb, options.auth_enabled) == (0.5, 1.0, True)
    rows = {row.field: row for row in report.rows if row.file == "deploymentconfig-aci.json"}
    assert_reports_every_field(report, V1 / "deploymentconfig-aci.json")
    assert_reports_every_field(report, V1 / "inferenceconfig-flat.json")
    assert rows["sslEnabled"].status == "not applicable" and "TLS" in rows["sslEnabled"].why
    assert rows["location"].status == "not applicable"


def test_local_compute_keeps_its_port(tmp_path):
    import_files([V1 / "inferenceconfig-flat.json", V1 / "deploymentconfig-local.json"], tmp_path / "out",
                 models=[str(V1 / "model")])
    config = load_deployment_config(tmp_path / "out" / "deployment.yaml")
    assert (config.target, ContainerOptions.model_validate(config.options).port) == ("container", 32267)


def test_secrets_are_used_but_never_shown(tmp_path):
    config = {"computeType": "ACI", "keys": {"primaryKey": "p" * 32, "secondaryKey": "s" * 32}}
    (tmp_path / "deploymentconfig.json").write_text(json.dumps(config))
    report = import_files([V1 / "inferenceconfig.json", tmp_path / "deploymentconfig.json"], tmp_path / "out",
                          models=[str(V1 / "model")])
    options = load_deployment_config(tmp_path / "out" / "deployment.yaml").options
    assert options["primary_key"] == "p" * 32
    assert options["auth_enabled"] is False and "ACI's default (off)" in report.notes[0]  # no authEnabled given
    assert not any("p" * 32 in row.value for row in report.rows)
    assert (tmp_path / "out" / "deployment.yaml").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("change, field, message", [
    ({"entryScript": "missing.py"}, "entryScript", "does not exist"),
    ({"runtime": "spark-py"}, "runtime", "not supported"),
])
def test_bad_inference_configs_name_the_field(tmp_path, change, field, message):
    config = {**json.loads((V1 / "inferenceconfig-flat.json").read_text()), **change}
    (tmp_path / "src").symlink_to(V1 / "src")
    (tmp_path / "ic.json").write_text(json.dumps(config))
    with pytest.raises(SpecError) as caught:
        import_files([tmp_path / "ic.json"], tmp_path / "out", models=[str(V1 / "model")])
    assert caught.value.field == field and message in str(caught.value) and "ic.json" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_unknown_files_and_compute_types_are_refused(tmp_path):
    (tmp_path / "odd.json").write_text('{"hello": 1}')
    with pytest.raises(SpecError, match="inferenceconfig.json"):
        import_files([tmp_path / "odd.json"], tmp_path / "out")
    (tmp_path / "dc.json").write_text('{"computeType": "batch"}')
    with pytest.raises(SpecError, match="ACI, AKS, AKSENDPOINT or local"):
        import_files([tmp_path / "dc.json"], tmp_path / "out")


def test_cli_prints_every_field_and_deploy_reads_the_config(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["import", str(V1 / "inferenceconfig.json"), str(V1 / "deploymentconfig-aks.json"),
                                 "--output", str(out), "--model", str(V1 / "model"), "--name", "iris"])
    assert result.exit_code == 0, result.output
    assert "1 unknown" in result.output and "replicaMaxConcurentRequests" in result.output

    # deploy --config: the file's settings, with a flag overriding one of them
    rendered = tmp_path / "manifests"
    result = runner.invoke(app, ["deploy", "iris:1", "--config", str(out / "deployment.yaml"),
                                 "--max-replicas", "9", "--output", str(rendered)])
    assert result.exit_code == 0, result.output
    hpa = yaml.safe_load((rendered / "horizontalpodautoscaler.yaml").read_text())
    assert (hpa["metadata"]["namespace"], hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == ("ml-prod", 2, 9)


def test_report_table_lists_every_row(tmp_path):
    report = import_files([V1 / "inferenceconfig.json", V1 / "deploymentconfig-aks.json"], tmp_path / "out",
                          models=[str(V1 / "model")])
    console = Console(width=400, record=True)
    print_report(report, console)
    text = console.export_text()
    for row in report.rows:
        assert row.field in text and row.status in text


def test_deployment_config_errors_name_file_field_and_line(tmp_path):
    path = tmp_path / "deployment.yaml"
    path.write_text("name: iris\ntarget: kubernetes\noptions:\n  cpu_cores: 1\n  replicass: 2\n")
    with pytest.raises(SpecError) as caught:
        load_deployment_config(path)
    assert "replicass" in str(caught.value) and str(path) in str(caught.value)


def test_model_from_the_registry_by_name_and_version(tmp_path):
    from shipyard.model_registry import LocalModelStore

    store = LocalModelStore(tmp_path / "store")
    store.register("iris", V1 / "model" / "model.json")
    result = runner.invoke(app, ["import", str(V1 / "inferenceconfig.json"), "--output", str(tmp_path / "out"),
                                 "--model", "iris:1", "--registry", str(store.root)])
    assert result.exit_code == 0, result.output
    (entry,) = load_spec(tmp_path / "out").models
    assert (entry.name, entry.version, entry.path.name) == ("iris", 1, "model.json")
    assert entry.path == (tmp_path / "out" / "models" / "iris" / "1" / "model.json").resolve()


def test_a_registered_environment_reference_is_reported_not_guessed(tmp_path):
    config = {"entryScript": "score.py", "sourceDirectory": "src", "environment": {"name": "my-env", "version": "3"},
              "dataCollection": {}, "cudaVersionn": None}
    (tmp_path / "src").symlink_to(V1 / "src")
    (tmp_path / "ic.json").write_text(json.dumps(config))
    report = import_files([tmp_path / "ic.json"], tmp_path / "out", models=[str(V1 / "model")])
    rows = {row.field: row for row in report.rows}
    assert rows["environment"].status == "not applicable" and "condaFile" in rows["environment"].why
    assert rows["dataCollection"].status == "not applicable" and not report.by_status("unknown")
    assert rows["cudaVersionn"].why == "empty (null): sets nothing"
    assert load_spec(tmp_path / "out").environment is None
