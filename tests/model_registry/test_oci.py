"""Models as OCI artifacts: a round trip through a real registry (Debian's docker-registry) on loopback.

The registry wants a login (htpasswd); Shipyard must take the credentials from Docker's config
file, as ``docker login`` leaves them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.errors import ModelIntegrityError, RegistryError
from shipyard.model_registry import OciModelRegistry, open_registry
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.skipif(shutil.which("docker-registry") is None, reason="needs Debian's docker-registry")
USER, PASSWORD = "alice", "wonderland"


@contextlib.contextmanager
def serve_registry(root: Path, auth: str) -> Iterator[str]:
    """Debian's docker-registry on a free loopback port, storing under *root*, with the given
    ``auth:`` section (one YAML flow mapping); yields ``host:port`` once it answers."""
    port = free_port()
    (root / "config.yml").write_text(f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {root / 'data'}}}
  delete: {{enabled: true}}
http: {{addr: "127.0.0.1:{port}"}}
auth:
  {auth}
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
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    bcrypt = pytest.importorskip("bcrypt")
    root = tmp_path_factory.mktemp("registry")
    (root / "htpasswd").write_text(f"{USER}:{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}\n")
    with serve_registry(root, f"htpasswd: {{realm: basic-realm, path: {root / 'htpasswd'}}}") as host:
        yield host, root


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


# -- a registry with token authentication (what Docker Hub, GHCR and ACR use) ----------------------
def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _TokenService:
    """The registry token protocol's other half: Basic credentials in, a signed JWT for the scope out."""

    def __init__(self, root: Path) -> None:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shipyard-test-token-issuer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=1)).sign(self.key, hashes.SHA256()))
        self.bundle = root / "token-root.pem"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.requests: list[str] = []

    def token(self, scope: str) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        kind, name, actions = scope.split(":", 2)  # repository:team/fraud:pull,push or registry:catalog:*
        now = int(time.time())
        claims = {"iss": "shipyard-test-issuer", "sub": USER, "aud": "shipyard-test", "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": uuid.uuid4().hex,
                  "access": [{"type": kind, "name": name, "actions": actions.split(",")}]}
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    import http.server
    import threading

    root = tmp_path_factory.mktemp("token-registry")
    service = _TokenService(root)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            service.requests.append(query.get("scope", [""])[0])
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"token": service.token(query["scope"][0])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    tokens = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    token_auth = (f"token: {{realm: 'http://127.0.0.1:{tokens.server_address[1]}/token', service: shipyard-test, "
                  f"issuer: shipyard-test-issuer, rootcertbundle: {service.bundle}}}")
    try:
        with serve_registry(root, token_auth) as host:
            yield host, service, root
    finally:
        tokens.shutdown()


def test_round_trip_with_token_authentication(tmp_path, monkeypatch, token_registry):
    host, service, root = token_registry
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (tmp_path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    oci = open_registry(f"oci://{host}/team")
    source = _model(tmp_path / "model")
    model = oci.register("fraud", source)
    out = oci.download("fraud", model.version, tmp_path / "out")
    assert (out / "weights.bin").read_bytes() == (source / "weights.bin").read_bytes()
    assert [m.reference for m in oci.list_versions()] == ["fraud:1"]
    assert "repository:team/fraud:pull,push" in service.requests and "registry:catalog:*" in service.requests
