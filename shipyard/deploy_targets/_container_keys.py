"""API keys handed to a container as a file, so that ``docker inspect`` does not show them.

An environment variable set at creation is part of the container's configuration: anyone who
may run ``docker inspect`` (or read the engine's API) sees it, and so does everything that logs
container configurations. Instead the keys go into the created, not yet started, container as a
file, through the engine's archive API (``PUT /containers/{id}/archive``, which also works on
remote engines, where no host file could be bind-mounted): ``/etc/shipyard/api-keys``, mode
0400, owned by the image's user, in a folder only that user may enter. The container's
environment only names the file (``SHIPYARD_API_KEYS_FILE``), which the runtime reads at start.

What still sees the keys: processes inside the container, and whoever may ``docker exec``,
``docker cp`` or ``docker export`` on the engine (they can do anything there anyway).
"""

from __future__ import annotations

import io
import tarfile
import time

import docker.errors
from docker.models.containers import Container

from shipyard.deploy_targets._keys import KEYS_ENV, keys_from_env_value
from shipyard.deploy_targets.base import DeploymentKeys
from shipyard.errors import DeployError

KEYS_FILE_ENV = "SHIPYARD_API_KEYS_FILE"
KEYS_DIR = "/etc/shipyard"
KEYS_FILE = f"{KEYS_DIR}/api-keys"


def image_user(user: str | None) -> tuple[int, int]:
    """The numeric ``uid, gid`` of an image's ``USER`` (Shipyard images set ``UID:GID``); root when unset.

    Raises:
        DeployError: the user is a name, which the archive's owner cannot be set from.
    """
    uid, _, gid = (user or "0").partition(":")
    if not uid.isdigit() or (gid and not gid.isdigit()):
        raise DeployError(f"the image runs as user {user!r}; the container target needs a numeric "
                          "USER uid[:gid] to hand it its API keys file (Shipyard images have one)")
    return int(uid), int(gid or uid)


def keys_archive(keys: DeploymentKeys, uid: int, gid: int) -> bytes:
    """A tar with ``shipyard/`` (0500) and ``shipyard/api-keys`` (0400), both owned by *uid*:*gid*."""
    content = ("\n".join(keys.as_list()) + "\n").encode()
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        folder = tarfile.TarInfo("shipyard")
        folder.type, folder.mode, folder.uid, folder.gid, folder.mtime = tarfile.DIRTYPE, 0o500, uid, gid, now
        archive.addfile(folder)
        entry = tarfile.TarInfo("shipyard/api-keys")
        entry.size, entry.mode, entry.uid, entry.gid, entry.mtime = len(content), 0o400, uid, gid, now
        archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def write_keys(container: Container, keys: DeploymentKeys, user: str | None) -> None:
    """Put *keys* into the created (not yet started) *container* at :data:`KEYS_FILE`.

    Raises:
        DeployError: the engine refused the archive.
    """
    uid, gid = image_user(user)
    try:
        container.put_archive(KEYS_DIR.rsplit("/", 1)[0] or "/", keys_archive(keys, uid, gid))
    except docker.errors.APIError as exc:
        raise DeployError(f"could not hand the API keys file to container '{container.name}': "
                          f"{exc.explanation or exc}") from exc


def read_keys(container: Container, env: dict[str, str]) -> DeploymentKeys | None:
    """The keys *container* was given (its keys file, or the environment of containers made before
    the file existed); ``None`` when auth is off."""
    if env.get(KEYS_FILE_ENV) != KEYS_FILE:
        return keys_from_env_value(env.get(KEYS_ENV))
    try:
        stream, _ = container.get_archive(KEYS_FILE)
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r") as archive:
        member = archive.extractfile("api-keys")
        text = member.read().decode() if member is not None else ""
    return keys_from_env_value(",".join(line.strip() for line in text.splitlines() if line.strip()))
