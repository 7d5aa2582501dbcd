"""Getting a bundle onto a device: through its Docker Engine's API, or over SSH.

Both leave the device unchanged when the copy or the load fails; what happens to the running
container afterwards is the container target's job (API) or ``install.sh``'s (SSH).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import tarfile
import tempfile
from urllib.parse import urlsplit

import docker
import docker.errors

from shipyard.deploy_targets._bundle import Bundle, BundleError
from shipyard.errors import DeployError

logger = logging.getLogger(__name__)

SSH_TIMEOUT_S = 3600  # copying an image over a poor link takes a while
_ARCH_NAMES = {"x86_64": "amd64", "aarch64": "arm64"}  # engine's uname -m -> Docker platform


def load_over_api(client: docker.DockerClient, bundle: Bundle, where: str) -> None:
    """``docker load`` the bundle's archive into *client*'s engine, unless it has that image already.

    Raises:
        DeployError: the load failed (the engine's message); nothing changed on the device.
        BundleError: the engine loaded a different image than the bundle describes.
    """
    try:
        if client.images.get(bundle.image_ref).id == bundle.image_id:
            logger.info("%s already has %s (%s); not sending it again", where, bundle.image_ref, bundle.image_id)
            return
    except docker.errors.ImageNotFound:
        pass
    arch = client.info().get("Architecture", "")
    platform = bundle.manifest["image"]["platform"]
    if _ARCH_NAMES.get(arch, arch) not in platform.split("/"):
        logger.warning("image %s is %s but %s runs on %s: it starts only with qemu emulation there",
                       bundle.image_ref, platform, where, arch)
    logger.info("loading %s (%d bytes) into %s", bundle.image_ref, bundle.archive.stat().st_size, where)
    try:
        with open(bundle.archive, "rb") as archive:  # the engine reads gzip archives as they are
            client.images.load(archive)
        loaded = client.images.get(bundle.image_ref).id
    except docker.errors.DockerException as exc:
        raise DeployError(f"loading {bundle.image_ref} into {where} failed: {exc}; nothing was "
                          "changed on the device") from exc
    if loaded != bundle.image_id:
        raise BundleError(f"{where} loaded {bundle.image_ref} as {loaded}, expected {bundle.image_id}")


def install_over_ssh(device: str, remote_dir: str, name: str, bundle: Bundle) -> None:
    """Copy the bundle to ``<remote_dir>/<name>.new`` on *device* and run its ``install.sh`` there.

    On success the folder replaces ``<remote_dir>/<name>``, so the device keeps the bundle it
    runs. ``ssh`` is the system client: keys, ports and jump hosts come from ``~/.ssh/config``.

    Raises:
        DeployError: the copy failed, or ``install.sh`` did (its output is in the message).
    """
    parts = urlsplit(device)
    destination = f"{parts.username}@{parts.hostname}" if parts.username else str(parts.hostname)
    ssh = ["ssh", "-o", "BatchMode=yes", *(["-p", str(parts.port)] if parts.port else []), destination]
    folder = shlex.quote(f"{remote_dir.rstrip('/')}/{name}")
    staging = f"{folder}.new"
    logger.info("copying the bundle for %s to %s:%s", name, destination, staging)
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: ssh may write while we stream
        copy = subprocess.Popen([*ssh, f"rm -rf {staging} && mkdir -p {staging} && tar -C {staging} -xf -"],
                                stdin=subprocess.PIPE, stderr=errors)
        assert copy.stdin is not None
        try:
            with tarfile.open(fileobj=copy.stdin, mode="w|") as stream:
                for path in bundle.files():
                    stream.add(path, arcname=path.name)
        except BrokenPipeError:
            pass  # the error is in ssh's exit status and stderr
        finally:
            copy.stdin.close()
        copy.wait(timeout=SSH_TIMEOUT_S)
        errors.seek(0)
        message = errors.read().decode(errors="replace").strip()[-2000:]
    if copy.returncode != 0:
        raise DeployError(f"copying the bundle to {destination} failed (ssh exit {copy.returncode}): {message}")
    install = subprocess.run([*ssh, f"sh {staging}/install.sh && rm -rf {folder} && mv {staging} {folder}"],
                             capture_output=True, text=True, timeout=SSH_TIMEOUT_S, check=False)
    if install.returncode != 0:
        raise DeployError(f"install.sh failed on {destination} (exit {install.returncode}):\n"
                          f"{(install.stdout + install.stderr).strip()[-3000:]}")
    logger.info("installed %s on %s: %s", name, destination, install.stderr.strip().splitlines()[-1:])
