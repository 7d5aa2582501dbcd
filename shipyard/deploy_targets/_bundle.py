"""Offline bundles: everything a device needs to run a scoring image, with no registry.

Edge devices often have no route to a registry and a slow, flaky link. A bundle is one folder the
operator copies by any means (scp, USB stick, a fleet tool), then runs ``sh install.sh`` on the
device::

    image.tar.gz      docker save of the image, gzip-compressed (docker load reads it as is)
    bundle.conf       the container's settings as shell assignments (name, ports, GPUs...)
    container.env     its environment, API keys included (mode 0600)
    container.labels  its labels, the same the container target writes (so status/list/logs work)
    deployment.json   the IoT Edge deployment manifest for the same module (mode 0600: keys)
    manifest.json     what the bundle holds: image id and platform, every file's size and SHA-256
    install.sh        verifies, loads, replaces the container, waits for GET /, rolls back on failure
    SHA256SUMS        ``sha256sum -c`` input for the files above

:func:`verify_bundle` performs the same check as ``install.sh`` before anything is shipped or
loaded from this side, so a corrupted or truncated copy is refused before any device changes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import docker

from shipyard import __version__
from shipyard.image_tags import did_you_mean
from shipyard.errors import DeployError

logger = logging.getLogger(__name__)

BUNDLE_FORMAT = "shipyard-edge-bundle"
BUNDLE_FORMAT_VERSION = 1
IMAGE_ARCHIVE = "image.tar.gz"
GZIP_LEVEL = 6  # gzip's default: level 1 is ~40% faster here, level 9 barely smaller
_SECRET_FILES = ("container.env", "deployment.json")
_CHECKED_FILES = (IMAGE_ARCHIVE, "bundle.conf", "container.env", "container.labels", "deployment.json",
                  "install.sh", "manifest.json")
_UNSAFE_ARG = re.compile(r"[\s*?\[\]$`'\\;&|<>()]")
_CHUNK = 1024 * 1024


class BundleError(DeployError):
    """A bundle is incomplete, corrupted or truncated; nothing was changed on the device."""


@dataclass(frozen=True)
class BundleContainer:
    """How the device runs the scoring container (the same whichever way the bundle travels).

    Attributes:
        name: container name (the deployment's name).
        container_port: the port the runtime listens on inside the image.
        host_port: the port published on the device; ``None`` publishes nothing.
        env: the container's environment, ``SHIPYARD_API_KEYS`` included when auth is on.
        labels: the container's labels.
        restart: ``docker run --restart`` value (``unless-stopped``, ``on-failure:5``...).
        run_args: more ``docker run`` arguments (``--gpus``, ``--cpus``...), each free of spaces
            and shell characters (``install.sh`` splits them on spaces).
        ready_path: the path that answers 200 once the model is loaded.
        health_timeout_s: how long ``install.sh`` waits for it.
    """

    name: str
    container_port: int = 5001
    host_port: int | None = 5001
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    restart: str = "unless-stopped"
    run_args: tuple[str, ...] = ()
    ready_path: str = "/v2/health/ready"
    health_timeout_s: int = 300


@dataclass(frozen=True)
class Bundle:
    """A bundle folder on disk and its parsed ``manifest.json``."""

    path: Path
    manifest: dict[str, Any]

    @property
    def image_ref(self) -> str:
        return str(self.manifest["image"]["ref"])

    @property
    def image_id(self) -> str:
        return str(self.manifest["image"]["id"])

    @property
    def archive(self) -> Path:
        return self.path / IMAGE_ARCHIVE

    def files(self) -> list[Path]:
        """Every file of the bundle (what to copy to a device)."""
        return sorted(self.path / name for name in (*_CHECKED_FILES, "SHA256SUMS"))


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def image_platform(image: docker.models.images.Image) -> str:
    """``os/arch[/variant]`` of a local image, as Docker's ``--platform`` spells it."""
    attrs = image.attrs
    parts = [attrs.get("Os", "linux"), attrs.get("Architecture", "amd64")]
    if attrs.get("Variant"):
        parts.append(attrs["Variant"])
    return "/".join(parts)


def _save_image(image: docker.models.images.Image, tag: str, target: Path, compress_level: int) -> None:
    """``docker save`` (keeping *tag*) streamed into a gzip file, written aside then renamed into place."""
    partial = target.with_name(target.name + ".partial")
    with gzip.open(partial, "wb", compresslevel=compress_level) as out:
        for chunk in image.save(named=tag):
            out.write(chunk)
    partial.replace(target)


def _key_value_file(values: Mapping[str, str], what: str) -> str:
    """``--env-file`` / ``--label-file`` text; that format has no quoting, so refuse what it cannot hold."""
    lines = []
    for key, value in sorted(values.items()):
        if not key or "=" in key or any(c.isspace() for c in key):
            raise DeployError(f"{what} name {key!r} cannot go into a docker {what} file")
        if "\n" in value or "\r" in value:
            raise DeployError(f"{what} {key} holds a line break, which a docker {what} file cannot carry")
        lines.append(f"{key}={value}\n")
    return "".join(lines)


def _bundle_conf(container: BundleContainer, image_ref: str, image_id: str, platform: str) -> str:
    unsafe = [arg for arg in container.run_args if _UNSAFE_ARG.search(arg)]
    if unsafe:
        raise DeployError(f"docker run arguments {unsafe} cannot go into a bundle (spaces or shell characters)")
    values = {
        "NAME": container.name, "IMAGE_REF": image_ref, "IMAGE_ID": image_id, "PLATFORM": platform,
        "CONTAINER_PORT": str(container.container_port),
        "HOST_PORT": "" if container.host_port is None else str(container.host_port),
        "RESTART": container.restart, "RUN_ARGS": " ".join(container.run_args),
        "READY_PATH": container.ready_path, "HEALTH_TIMEOUT_S": str(container.health_timeout_s),
    }
    header = "# Generated by shipyard; sourced by install.sh after the checksum check.\n"
    return header + "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def write_bundle(client: docker.DockerClient, image_ref: str, output: Path, container: BundleContainer,
                 deployment_manifest: Mapping[str, Any], *, compress_level: int = GZIP_LEVEL) -> Bundle:
    """Write an offline bundle for *image_ref* (an image on *client*'s engine) into *output*.

    Existing files of an earlier bundle in *output* are replaced; other files are left alone.
    ``compress_level`` is gzip's 1 (fast) to 9 (small); 6 by default.

    Raises:
        DeployError: the image does not exist, or the environment cannot be written.
    """
    try:
        image = client.images.get(image_ref)
    except docker.errors.ImageNotFound as exc:
        raise DeployError(f"image {image_ref!r} not found on the Docker Engine. {did_you_mean(client, image_ref)}"
                          "Build it first (shipyard build-image) or pass an existing tag") from exc
    tag = image_ref if ":" in image_ref.rsplit("/", 1)[-1] else f"{image_ref}:latest"
    if tag not in image.tags:
        raise DeployError(f"{image_ref!r} is not a tag of the image (its tags: {', '.join(image.tags) or 'none'}); "
                          "a bundle carries its image by tag: tag it first (docker tag ID NAME:TAG)")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    platform = image_platform(image)
    logger.info("saving %s (%s, %s) into %s", image_ref, image.id, platform, output / IMAGE_ARCHIVE)
    _save_image(image, tag, output / IMAGE_ARCHIVE, compress_level)

    texts = {
        "bundle.conf": _bundle_conf(container, tag, image.id, platform),
        "container.env": _key_value_file(container.env, "environment variable"),
        "container.labels": _key_value_file(container.labels, "label"),
        "deployment.json": json.dumps(deployment_manifest, indent=2) + "\n",
        "install.sh": resources.files("shipyard.templates.edge").joinpath("install.sh").read_text("utf-8"),
    }
    for name, text in texts.items():
        path = output / name
        path.unlink(missing_ok=True)  # a fresh inode, so the mode below holds
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if name in _SECRET_FILES else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
    os.chmod(output / "install.sh", 0o755)

    files = {name: {"sha256": sha256_file(output / name), "size": (output / name).stat().st_size}
             for name in _CHECKED_FILES if name != "manifest.json"}
    manifest = {
        "format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION,
        "created_by": f"shipyard {__version__}",
        "name": container.name,
        "image": {"ref": tag, "id": image.id, "platform": platform,
                  "size": image.attrs.get("Size")},
        "container": {"port": container.container_port, "host_port": container.host_port,
                      "restart": container.restart, "run_args": list(container.run_args),
                      "auth": bool(container.env.get("SHIPYARD_API_KEYS"))},
        "files": files,
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    sums = {**{name: entry["sha256"] for name, entry in files.items()},
            "manifest.json": sha256_file(output / "manifest.json")}
    (output / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()),
                                       encoding="utf-8")
    logger.info("bundle for %s written to %s (%d bytes compressed)", container.name, output,
                files[IMAGE_ARCHIVE]["size"])
    return Bundle(output, manifest)


def _read_sums(path: Path) -> dict[str, str]:
    sums = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise BundleError(f"{path}:{number}: not a 'sha256  filename' line; the file is damaged")
        sums[name.lstrip("*")] = digest
    return sums


def verify_bundle(path: Path) -> Bundle:
    """Check every file of the bundle in *path* against its SHA-256, as ``install.sh`` does.

    Raises:
        BundleError: a file is missing, truncated or altered (the message names it and says what
            to do); nothing has been changed anywhere at that point.
    """
    path = Path(path)
    sums_path = path / "SHA256SUMS"
    if not sums_path.is_file():
        raise BundleError(f"{path} is not a Shipyard bundle (no SHA256SUMS); write one with "
                          "shipyard deploy --target edge --output DIR")
    sums = _read_sums(sums_path)
    for name in _CHECKED_FILES:
        if name not in sums:
            raise BundleError(f"{sums_path} does not list {name}: the bundle is incomplete or was altered")
        file = path / name
        if not file.is_file():
            raise BundleError(f"{file} is missing: copy the whole bundle folder again")
        if sha256_file(file) != sums[name]:
            raise BundleError(f"{file} does not match its SHA-256 (corrupted or truncated copy); "
                              "copy the bundle again")
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise BundleError(f"{path / 'manifest.json'} is format {manifest.get('format')!r} "
                          f"v{manifest.get('format_version')}; this Shipyard reads {BUNDLE_FORMAT} "
                          f"v{BUNDLE_FORMAT_VERSION}")
    for name, entry in manifest["files"].items():
        if sums.get(name) != entry["sha256"] or (path / name).stat().st_size != entry["size"]:
            raise BundleError(f"{path / name} disagrees with manifest.json; copy the bundle again")
    return Bundle(path, manifest)
