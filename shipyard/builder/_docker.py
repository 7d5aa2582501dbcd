"""The one place the builder connects to a Docker Engine and translates its errors.

docker-py's exceptions are turned into Shipyard errors here, once, with a message that says
which engine was tried and what to do.
"""

from __future__ import annotations

import os

import docker
from docker.errors import DockerException

from shipyard.errors import DockerUnavailableError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def docker_client(timeout: int = 600) -> docker.DockerClient:
    """Connect to the engine in ``DOCKER_HOST`` (or the default socket) and check it answers.

    Raises:
        DockerUnavailableError: nothing answers there.
    """
    where = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as exc:
        raise DockerUnavailableError(
            f"no Docker Engine answers at {where} ({exc}); start dockerd, or point DOCKER_HOST at a running "
            "engine, or use --export DIR to write the build context for another builder") from exc
    return client

