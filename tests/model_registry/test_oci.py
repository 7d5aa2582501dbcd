"""Models as OCI artifacts: a round trip through a real registry (Debian's docker-registry) on loopback.

The registry wants a login (htpasswd); Shipyard must take the credentials from Docker's config
file, as ``docker login`` leaves them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from shipyard.errors import ModelIntegrityError, RegistryError
from shipyard.model_registry import OciModelRegistry, open_registry
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.skipif(shutil.which("docker-registry") is None, reason="needs Debian's docker-registry")
USER, PASSWORD = "alice", "wonderland"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    bcrypt = pytest.importorskip("bcrypt")
    root = tmp_path_factory.mktemp("registry")
    (root / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    port = free_port()
    (root / "config.yml").write_text(f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {root / 'data'}}}
  delete: {{enabled: true}}
http: {{addr: "127.0.0.1:{port}"}}
auth:
  htpasswd: {{realm: basic-realm, path: {root / 'htpasswd'}}}
""")
    with open(root / "registry.log", "wb") as log:
        process = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
            except urllib.error.HTTPError:
                break  # 401: it answers
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError((root / "registry.log").read_text()) from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}", root
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def docker_login(tmp_path, monkeypatch, registry):
    """What 'docker login' leaves in a Docker config folder."""
    host, _ = registry
    config = tmp_path / "docker"
    config.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    return host


def _model(folder: Path) -> Path:
    (folder / "nested").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(os.urandom(200_000))
    (folder / "nested" / "labels.json").write_text('["cat", "dog"]')
    return folder


def test_round_trip_through_the_registry(tmp_path, docker_login):
    oci = open_registry(f"oci://{docker_login}/models")
    assert isinstance(oci, OciModelRegistry)
    source = _model(tmp_path / "model")
    first = oci.register("fraud", source, tags=["stage=prod"])
    second = oci.register("fraud", source / "weights.bin")
    assert (first.version, second.version) == (1, 2)
    assert [m.reference for m in oci.list_versions()] == ["fraud:1", "fraud:2"]
    assert oci.show("fraud", 1).tags == {"stage": "prod"} and oci.show("fraud").version == 2

    out = oci.download("fraud", 1, tmp_path / "out")
    assert out == tmp_path / "out" / "model"
    assert (out / "weights.bin").read_bytes() == (source / "weights.bin").read_bytes()
    assert (out / "nested" / "labels.json").read_text() == '["cat", "dog"]'
    assert oci.download("fraud", 2, tmp_path / "out2").read_bytes() == (source / "weights.bin").read_bytes()

    oci.delete("fraud", 2)
    assert [m.reference for m in oci.list_versions("fraud")] == ["fraud:1"]
    with pytest.raises(RegistryError, match="already has version 1"):
        oci.register("fraud", source, version=1)


def test_a_corrupted_blob_in_the_registry_is_refused(tmp_path, docker_login, registry):
    _, root = registry
    oci = open_registry(f"oci://{docker_login}/corrupt")
    model = oci.register("m", _model(tmp_path / "model"))
    weights = next(f for f in model.files if f.path.endswith("weights.bin"))
    blob = next((root / "data").rglob(f"blobs/sha256/{weights.sha256[:2]}/{weights.sha256}/data"))
    data = bytearray(blob.read_bytes())
    data[5] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="corrupted"):
        oci.download("m", model.version, tmp_path / "out")
    assert not (tmp_path / "out" / "model").exists()


def test_without_credentials_the_error_says_to_log_in(tmp_path, monkeypatch, registry):
    host, _ = registry
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with pytest.raises(RegistryError, match=f"docker login {host}"):
        open_registry(f"oci://{host}/models").list_versions()


def test_credentials_from_a_docker_credential_helper(tmp_path, monkeypatch, registry):
    """``docker login`` with a credential helper leaves only the helper's name in config.json."""
    host, _ = registry
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-shipyardtest"
    helper.write_text("#!/bin/sh\n"  # the helper protocol: the host on stdin, JSON on stdout
                      f'read host; [ "$host" = "{host}" ] || exit 1\n'
                      f'echo \'{{"ServerURL": "{host}", "Username": "{USER}", "Secret": "{PASSWORD}"}}\'\n')
    helper.chmod(0o755)
    (tmp_path / "config.json").write_text(json.dumps({"credHelpers": {host: "shipyardtest"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    oci = open_registry(f"oci://{host}/helper")
    model = oci.register("m", _model(tmp_path / "model"))
    assert [m.reference for m in oci.list_versions("m")] == [model.reference]
