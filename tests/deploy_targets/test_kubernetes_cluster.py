"""The kubernetes target against a real cluster: runs only when KUBECONFIG points at one.

The cluster must be able to pull the image: set ``SHIPYARD_TEST_K8S_IMAGE`` to an image it can
pull, or load the example image into it first (``kind load docker-image shipyard-test-iris:latest``)
and leave the variable unset. ``SHIPYARD_TEST_K8S_NAMESPACE`` picks the namespace (default
``default``). Without KUBECONFIG these tests are skipped, never faked.
"""

from __future__ import annotations

import os
import uuid

import pytest

from shipyard.deploy_targets import delete, deploy, get_target, list_deployments, logs, status
from shipyard.errors import DeployError, DeploymentNotFoundError

NAMESPACE = os.environ.get("SHIPYARD_TEST_K8S_NAMESPACE", "default")
needs_cluster = pytest.mark.skipif(not os.environ.get("KUBECONFIG"),
                                   reason="KUBECONFIG is not set: no Kubernetes cluster to deploy to")


def test_a_missing_kubeconfig_is_a_clear_error(tmp_path):
    target = get_target("kubernetes", kubeconfig=str(tmp_path / "nowhere.yaml"))
    with pytest.raises(DeployError, match=r"cannot load the Kubernetes configuration from .*nowhere.yaml"):
        target.list()


@pytest.fixture
def cluster_image(request) -> str:
    return os.environ.get("SHIPYARD_TEST_K8S_IMAGE") or request.getfixturevalue("example_image")


@needs_cluster
@pytest.mark.slow
def test_deploy_update_and_delete_on_a_cluster(cluster_image):
    name = f"t{uuid.uuid4().hex[:8]}-iris"
    settings = {"namespace": NAMESPACE}
    try:
        first = deploy(cluster_image, name=name, target="kubernetes", settings=settings,
                       options={"replicas": 1, "image_pull_policy": "IfNotPresent", "timeout_s": 300})
        assert first.state == "Healthy"  # the readiness probe (GET /v2/health/ready) passed
        assert first.scoring_uri == f"http://{name}.{NAMESPACE}.svc.cluster.local:80/score"
        assert first.keys is not None
        assert name in [d.name for d in list_deployments(target="kubernetes", settings=settings)]

        # a settings-only update keeps the keys and rolls the pods
        second = deploy(cluster_image, name=name, target="kubernetes", settings=settings,
                        options={"env": {"SHIPYARD_WORKERS": "1"}})
        assert second.keys == first.keys and second.state == "Healthy"

        # an image that cannot be pulled: the previous version is re-applied
        with pytest.raises(DeployError, match="previous version was re-applied"):
            deploy("shipyard-test-no-such-image:1", name=name, target="kubernetes", settings=settings,
                   options={"timeout_s": 120})
        assert status(name, target="kubernetes", settings=settings).image == cluster_image

        assert "GET /v2/health/ready" in logs(name, target="kubernetes", settings=settings)  # the probes
    finally:
        try:
            delete(name, target="kubernetes", settings=settings)
        except DeploymentNotFoundError:
            pass
    with pytest.raises(DeploymentNotFoundError, match=f"no deployment named '{name}'"):
        delete(name, target="kubernetes", settings=settings)
