"""Options, names and the target registry: bad input is refused with a message that says what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shipyard.deploy_targets import DeployOptions, GpuRequest, get_target, register_target, registry, target_names
from shipyard.deploy_targets.base import validate_name
from shipyard.deploy_targets.container import ContainerOptions
from shipyard.deploy_targets.kubernetes_manifests import KubernetesOptions
from shipyard.deploy_targets.options import parse_model
from shipyard.errors import DeployError, SpecError


def test_memory_accepts_gigabytes_and_units():
    assert DeployOptions(memory_gb=1.5).memory_gb == 1.5
    assert DeployOptions(memory_gb="2G").memory_gb == 2.0
    assert DeployOptions(memory_gb="512Mi").memory_gb == pytest.approx(0.536871)
    with pytest.raises(ValueError, match="not a size"):
        DeployOptions(memory_gb="lots")


@pytest.mark.parametrize(("text", "expected"), [
    ("all", GpuRequest(count="all")),
    ("2", GpuRequest(count=2)),
    ("device=0,1", GpuRequest(device_ids=["0", "1"])),
    ("amd:all", GpuRequest(vendor="amd", count="all")),
])
def test_gpus_use_docker_syntax(text, expected):
    assert GpuRequest.parse(text) == expected


def test_bad_gpus_value_lists_the_accepted_forms():
    with pytest.raises(SpecError, match="'all', a count such as '1', 'device=0,1'"):
        GpuRequest.parse("many")
    with pytest.raises(SpecError, match="vendor"):
        GpuRequest.parse("acme:1")


def test_an_option_of_another_target_is_refused_with_the_accepted_list():
    with pytest.raises(SpecError) as info:
        parse_model(ContainerOptions, {"replicas": 3}, what="options for target 'container'")
    message = str(info.value)
    assert "'replicas' is not accepted" in message
    assert "port" in message and "restart_policy" in message


def test_keys_env_is_managed_by_the_target():
    with pytest.raises(ValueError, match="--primary-key"):
        DeployOptions(env={"SHIPYARD_API_KEYS": "mine"})
    with pytest.raises(ValueError, match="not valid"):
        DeployOptions(env={"BAD-NAME": "1"})


def test_stored_options_are_what_was_set_without_keys():
    options = ContainerOptions(port=8080, primary_key="k" * 20, timeout_s=5)
    assert options.stored() == {"port": 8080}


def test_kubernetes_replica_range_is_checked():
    with pytest.raises(SpecError, match=r"min_replicas \(5\) is above max_replicas \(2\)"):
        parse_model(KubernetesOptions, {"min_replicas": 5, "max_replicas": 2}, what="options")


@pytest.mark.parametrize("name", ["ab", "Iris", "iris_1", "-iris", "iris-", "x" * 33])
def test_deployment_names_follow_azure_rules(name):
    with pytest.raises(SpecError, match="3-32 characters"):
        validate_name(name)


def test_unknown_target_lists_the_available_ones():
    with pytest.raises(SpecError, match="unknown deploy target 'aci'; available: container, kubernetes"):
        get_target("aci")


def test_registered_targets_resolve_lazily_and_report_import_errors(monkeypatch):
    monkeypatch.setattr(registry, "_registered", {})
    register_target("broken", "shipyard_no_such_package.target:Target")
    assert "broken" in target_names()
    with pytest.raises(DeployError, match="could not be loaded from 'shipyard_no_such_package.target:Target'"):
        get_target("broken")


def test_target_settings_are_validated():
    with pytest.raises(SpecError, match="'replicas' is not accepted"):
        get_target("container", replicas=2)
    assert get_target("kubernetes", namespace="ml").settings.namespace == "ml"


def test_importing_the_package_loads_no_target_client():
    code = ("import sys, shipyard.deploy_targets, shipyard.cli; "
            "print('kubernetes' in sys.modules, 'shipyard.deploy_targets.kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
