"""From Azure ML files to a scoring service: import, build the image, deploy with --config, score.

The iris example as Azure ML v1 described it (examples/azure-ml/v1, flat inference config with
extraDockerfileSteps, an ACI deployment config), through the real builder, a real Docker Engine
and the ``shipyard`` CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from shipyard.builder import build_image, load_spec
from shipyard.importers import import_files

pytestmark = [pytest.mark.docker, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_imported_v1_service_builds_deploys_and_scores(tmp_path, docker_client, docker_base_image, example_dir,
                                                       host_ca_bundle, runtime_wheel):
    azure = tmp_path / "azure"
    shutil.copytree(EXAMPLES / "azure-ml" / "v1", azure)
    (azure / "src" / "extra-steps.dockerfile").write_text("RUN echo imported-from-azure > /etc/shipyard-imported\n")
    config = json.loads((azure / "deploymentconfig-aci.json").read_text())
    config["scoringTimeoutMs"] = 20000
    (azure / "deploymentconfig-aci.json").write_text(json.dumps(config))
    name = f"t{uuid.uuid4().hex[:8]}-imp"
    import_files([azure / "inferenceconfig-flat.json", azure / "deploymentconfig-aci.json"], tmp_path / "out",
                 models=[str(example_dir / "model" / "model.pkl")], name=name)

    tag = f"shipyard-test-imported:{name}"
    build_image(load_spec(tmp_path / "out"), tag, base_image=docker_base_image, extra_ca=host_ca_bundle,
                client=docker_client, runtime_wheel=runtime_wheel)
    environment = {key: value for key, value in os.environ.items() if key != "DOCKER_HOST"}
    try:
        done = subprocess.run([sys.executable, "-m", "shipyard", "deploy", tag, "--config",
                               str(tmp_path / "out" / "deployment.yaml"), "--json"],
                              capture_output=True, text=True, env=environment, timeout=600)
        assert done.returncode == 0, done.stderr
        service = json.loads(done.stdout)
        answer = httpx.post(service["scoring_uri"], content=(EXAMPLES / "iris" / "sample-request.json").read_bytes(),
                            headers={"Content-Type": "application/json",
                                     "Authorization": f"Bearer {service['keys']['primary']}"}, timeout=30)
        assert answer.status_code == 200 and answer.json() == [0, 2]
        container = docker_client.containers.get(name)
        assert container.exec_run(["cat", "/etc/shipyard-imported"]).output.decode().strip() == "imported-from-azure"
        assert "SHIPYARD_REQUEST_TIMEOUT_S=20" in container.attrs["Config"]["Env"]
        assert container.attrs["HostConfig"]["NanoCpus"] == 500_000_000
    finally:
        for container in docker_client.containers.list(all=True, filters={"label": f"dev.shipyard.deployment={name}"}):
            container.remove(force=True)
        docker_client.images.remove(tag, force=True)
