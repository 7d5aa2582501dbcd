"""Models in an OCI registry, the one that holds the images: each version is an OCI artifact.

A model ``fraud`` version 3 in ``oci://registry.example.com/models`` is the manifest tagged ``3``
in repository ``models/fraud``: its config blob (media type
``application/vnd.shipyard.model.config.v1+json``) is the version's record (files, digests,
tags), and each file is one layer (``application/vnd.shipyard.model.file.v1``) titled with its
path (``org.opencontainers.image.title``, as ORAS does). Credentials are Docker's (see
:mod:`._docker_auth`); registries on loopback are spoken to over plain HTTP, others over HTTPS.

Version numbers come from the repository's tags. Two writers racing for the same next number
are caught by a check just before the manifest is written, not by a lock: registries have none.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shipyard.errors import RegistryError
from shipyard.model_registry import _docker_auth
from shipyard.model_registry._model import (
    CHUNK,
    ModelFile,
    ModelVersion,
    check_name,
    materialize,
    model_files,
    parse_tags,
    sha256_file,
)

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.shipyard.model.config.v1+json"
FILE_TYPE = "application/vnd.shipyard.model.file.v1"
TITLE = "org.opencontainers.image.title"
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


class _Response:
    def __init__(self, status: int, headers: dict[str, str], handle: Any) -> None:
        self.status, self.headers, self.handle = status, {k.lower(): v for k, v in headers.items()}, handle

    def read(self) -> bytes:
        with self.handle:
            return self.handle.read()

    def chunks(self) -> Iterator[bytes]:
        with self.handle:
            while chunk := self.handle.read(CHUNK):
                yield chunk


class OciModelRegistry:
    """Models as OCI artifacts under ``oci://HOST[:PORT]/PREFIX``."""

    def __init__(self, location: str) -> None:
        parsed = urllib.parse.urlparse(location)
        if parsed.scheme != "oci" or not parsed.netloc:
            raise RegistryError(f"{location!r} is not an OCI registry location: use oci://HOST[:PORT]/PREFIX")
        self.host = parsed.netloc
        self.prefix = parsed.path.strip("/")
        loopback = parsed.hostname in ("127.0.0.1", "localhost", "::1")
        self.base = f"{'http' if loopback else 'https'}://{self.host}"
        self._authorization: dict[str, str] = {}  # scope -> Authorization header value

    @property
    def location(self) -> str:
        return f"oci://{self.host}/{self.prefix}" if self.prefix else f"oci://{self.host}"

    def _repository(self, name: str) -> str:
        return f"{self.prefix}/{check_name(name)}" if self.prefix else check_name(name)

    # -- reading ------------------------------------------------------------------------------
    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        names = [name] if name is not None else self._names()
        return [self.show(model, version) for model in names for version in self._versions(model)]

    def show(self, name: str, version: int | None = None) -> ModelVersion:
        if version is None:
            versions = self._versions(name)
            if not versions:
                raise RegistryError(f"no model '{name}' in {self.location}")
            version = versions[-1]
        manifest = self._manifest(name, version)
        config = self._blob(self._repository(name), manifest["config"]["digest"]).read()
        if hashlib.sha256(config).hexdigest() != manifest["config"]["digest"].removeprefix("sha256:"):
            raise RegistryError(f"{self.location} {name}:{version}: the config blob does not match its digest")
        return ModelVersion.model_validate_json(config)

    def download(self, name: str, version: int | None, destination: str | Path) -> Path:
        model = self.show(name, version)
        repository = self._repository(name)
        return materialize(model, Path(destination), lambda file: self._blob(repository, f"sha256:{file.sha256}").chunks(),
                           where=f"{self.location} {model.reference}")

    # -- writing ------------------------------------------------------------------------------
    def register(self, name: str, path: str | Path, *, version: int | None = None,
                 tags: list[str] | dict[str, str] | None = None) -> ModelVersion:
        repository = self._repository(name)
        kind, files = model_files(Path(path))
        existing = self._versions(name)
        if version is None:
            version = (existing[-1] if existing else 0) + 1
        elif version in existing:
            raise RegistryError(f"model '{name}' already has version {version} in {self.location}")
        entries = []
        layers = []
        for relative, file in files:
            digest = sha256_file(file)
            size = file.stat().st_size
            self._push_blob(repository, digest, size, file)
            entries.append(ModelFile(path=relative, sha256=digest, size=size))
            layers.append({"mediaType": FILE_TYPE, "digest": f"sha256:{digest}", "size": size,
                           "annotations": {TITLE: relative}})
        model = ModelVersion(name=name, version=version, kind=kind, files=entries, tags=parse_tags(tags),
                             created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        config = model.model_dump_json().encode()
        config_digest = hashlib.sha256(config).hexdigest()
        self._push_blob(repository, config_digest, len(config), config)
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                    "config": {"mediaType": CONFIG_TYPE, "digest": f"sha256:{config_digest}", "size": len(config)},
                    "layers": layers,
                    "annotations": {"org.opencontainers.image.created": model.created,
                                    "dev.shipyard.model.name": name, "dev.shipyard.model.version": str(version)}}
        if version in self._versions(name):
            raise RegistryError(f"another writer registered {name}:{version} in {self.location} meanwhile; "
                                "register again for the next version")
        response = self._call("PUT", repository, f"/v2/{repository}/manifests/{version}", push=True,
                              data=json.dumps(manifest).encode(), headers={"Content-Type": MANIFEST_TYPE})
        self._expect(response, (201,), f"writing the manifest of {name}:{version}")
        return model

    def delete(self, name: str, version: int) -> None:
        repository = self._repository(name)
        response = self._call("HEAD", repository, f"/v2/{repository}/manifests/{version}",
                              headers={"Accept": MANIFEST_TYPE})
        if response.status == 404:
            raise RegistryError(f"model '{name}' has no version {version} in {self.location}")
        self._expect(response, (200,), f"finding {name}:{version}")
        digest = response.headers.get("docker-content-digest")
        deleted = self._call("DELETE", repository, f"/v2/{repository}/manifests/{digest}", push=True)
        self._expect(deleted, (202,), f"deleting {name}:{version} (the registry must allow deletes)")

    # -- registry calls -----------------------------------------------------------------------
    def _names(self) -> list[str]:
        repositories: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path:  # pages: the Link header names the next one
            response = self._call("GET", None, path)
            self._expect(response, (200,), "listing repositories")
            repositories += json.loads(response.read()).get("repositories") or []
            link = re.match(r'<([^>]+)>;\s*rel="next"', response.headers.get("link", ""))
            path = link.group(1) if link else None
        prefix = f"{self.prefix}/" if self.prefix else ""
        return sorted(repo[len(prefix):] for repo in repositories if repo.startswith(prefix)
                      and "/" not in repo[len(prefix):])

    def _versions(self, name: str) -> list[int]:
        repository = self._repository(name)
        response = self._call("GET", repository, f"/v2/{repository}/tags/list")
        if response.status == 404:
            return []
        self._expect(response, (200,), f"listing the versions of '{name}'")
        tags = json.loads(response.read()).get("tags") or []
        return sorted(int(tag) for tag in tags if tag.isdigit())

    def _manifest(self, name: str, version: int) -> dict[str, Any]:
        repository = self._repository(name)
        response = self._call("GET", repository, f"/v2/{repository}/manifests/{version}",
                              headers={"Accept": MANIFEST_TYPE})
        if response.status == 404:
            raise RegistryError(f"model '{name}' has no version {version} in {self.location}")
        self._expect(response, (200,), f"reading {name}:{version}")
        manifest = json.loads(response.read())
        if manifest.get("config", {}).get("mediaType") != CONFIG_TYPE:
            raise RegistryError(f"{self.location}/{repository}:{version} is not a Shipyard model")
        return manifest

    def _blob(self, repository: str, digest: str) -> _Response:
        response = self._call("GET", repository, f"/v2/{repository}/blobs/{digest}")
        self._expect(response, (200,), f"fetching blob {digest}")
        return response

    def _push_blob(self, repository: str, digest: str, size: int, content: Path | bytes) -> None:
        exists = self._call("HEAD", repository, f"/v2/{repository}/blobs/sha256:{digest}", push=True)
        if exists.status == 200:
            return
        started = self._call("POST", repository, f"/v2/{repository}/blobs/uploads/", push=True, data=b"")
        self._expect(started, (202,), "starting an upload")
        location = urllib.parse.urljoin(self.base, started.headers["location"])
        location += ("&" if "?" in location else "?") + f"digest=sha256:{digest}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(content, bytes):
            done = self._call("PUT", repository, location, push=True, data=content, headers=headers)
        else:
            with open(content, "rb") as handle:
                done = self._call("PUT", repository, location, push=True, data=handle, headers=headers)
        self._expect(done, (201,), f"uploading blob sha256:{digest}")

    def _expect(self, response: _Response, statuses: tuple[int, ...], doing: str) -> None:
        if response.status in statuses:
            return
        body = response.read()[:500].decode(errors="replace") if response.status != 0 else ""
        if response.status == 401:
            raise RegistryError(f"{self.location}: not authorized {doing}; run 'docker login {self.host}'")
        raise RegistryError(f"{self.location}: {doing} failed with HTTP {response.status}: {body}")

    def _call(self, method: str, repository: str | None, path: str, *, push: bool = False, data: Any = None,
              headers: dict[str, str] | None = None) -> _Response:
        url = path if path.startswith("http") else self.base + path
        scope = f"repository:{repository}:{'pull,push' if push else 'pull'}" if repository else "registry:catalog:*"
        response = self._send(method, url, data, {**(headers or {}), **self._auth_header(scope)})
        if response.status == 401 and scope not in self._authorization:
            response.read()
            self._authorize(scope, response.headers.get("www-authenticate", ""))
            if hasattr(data, "seek"):
                data.seek(0)
            response = self._send(method, url, data, {**(headers or {}), **self._auth_header(scope)})
        return response

    def _auth_header(self, scope: str) -> dict[str, str]:
        value = self._authorization.get(scope)
        return {"Authorization": value} if value else {}

    def _authorize(self, scope: str, challenge: str) -> None:
        """Answer a 401's challenge with Docker's credentials: Basic directly, Bearer via the token service."""
        found = _docker_auth.credentials(self.host)
        basic = "Basic " + base64.b64encode(f"{found[0]}:{found[1]}".encode()).decode() if found else None
        if challenge.lower().startswith("basic"):
            if basic is None:
                raise RegistryError(f"{self.location} needs a login: run 'docker login {self.host}'")
            self._authorization[scope] = basic
            return
        params = dict(_CHALLENGE_RE.findall(challenge))
        if not challenge.lower().startswith("bearer") or "realm" not in params:
            raise RegistryError(f"{self.location} asked for authentication Shipyard cannot give: {challenge!r}")
        query = urllib.parse.urlencode({"service": params.get("service", ""), "scope": scope})
        token = self._send("GET", f"{params['realm']}?{query}", None, {"Authorization": basic} if basic else {})
        if token.status != 200:
            raise RegistryError(f"{self.location}: the token service refused access ({token.status}); "
                                f"run 'docker login {self.host}'")
        answer = json.loads(token.read())
        self._authorization[scope] = "Bearer " + (answer.get("token") or answer.get("access_token", ""))

    @staticmethod
    def _send(method: str, url: str, data: Any, headers: dict[str, str]) -> _Response:
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            handle = urllib.request.urlopen(request, timeout=60)  # noqa: S310 - registry URL from the user
            return _Response(handle.status, dict(handle.headers.items()), handle)
        except urllib.error.HTTPError as exc:
            return _Response(exc.code, dict(exc.headers.items()), exc)
        except urllib.error.URLError as exc:
            raise RegistryError(f"cannot reach the registry at {url.split('/v2/')[0]}: {exc.reason}") from exc
