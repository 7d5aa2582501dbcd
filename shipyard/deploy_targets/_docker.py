"""Docker Engine plumbing shared by the targets that run containers (container, edge).

Connecting to a local or remote engine, finding the address clients will use to reach a
published port, making sure an image is on the engine, GPU device mappings, log tails, and
translating the Docker SDK's errors into Shipyard's once, here.
"""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors
import requests
from docker.types import DeviceRequest

from shipyard.deploy_targets.options import GpuRequest, ProbeOptions
from shipyard.image_tags import did_you_mean
from shipyard.errors import DeployError, DockerUnavailableError, SpecError

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 30
"""How many log lines a failed deploy quotes."""


def connect(docker_host: str | None) -> docker.DockerClient:
    """A client for the engine at ``docker_host`` (``tcp://``, ``ssh://``, ``unix://``) or $DOCKER_HOST.

    TLS settings (``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``) are read from the environment
    either way; ``ssh://`` hosts go through the ``ssh`` binary so ``~/.ssh/config`` applies.

    Raises:
        DockerUnavailableError: nothing answers there.
    """
    environment = dict(os.environ)
    if docker_host:
        environment["DOCKER_HOST"] = docker_host
    where = environment.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    try:
        client = docker.from_env(environment=environment,
                                 use_ssh_client=where.startswith("ssh://"), timeout=300)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailableError(
            f"no Docker Engine answers at {where}: {exc}. Start it, or point --docker-host / "
            "DOCKER_HOST at a running engine (tcp://HOST:2375, ssh://USER@HOST)") from exc
    return client


def engine_address(docker_host: str | None) -> str:
    """The engine as users wrote it, for messages."""
    return docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def published_host(docker_host: str | None, bind_address: str, public_host: str | None = None) -> str:
    """The host name clients use to reach a port the engine publishes.

    ``public_host`` wins; else the engine's own host for ``tcp://``/``ssh://`` engines; else the
    bind address, or ``127.0.0.1`` when it binds every address.
    """
    if public_host:
        host = public_host
    else:
        address = engine_address(docker_host)
        parts = urlsplit(address)
        if parts.scheme in ("tcp", "http", "https", "ssh") and parts.hostname:
            host = parts.hostname
        elif bind_address not in ("0.0.0.0", "::", ""):
            host = bind_address
        else:
            host = "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def ensure_image(client: docker.DockerClient, image: str, engine: str) -> docker.models.images.Image:
    """Return ``image`` from the engine, pulling it if the engine does not have it.

    Raises:
        DeployError: the engine has no such image and cannot pull it (the message says how to
            get it there).
    """
    try:
        return client.images.get(image)
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:
        raise DeployError(f"cannot inspect image {image!r} on {engine}: {exc.explanation}") from exc
    logger.info("image %s is not on %s; pulling it", image, engine)
    try:
        return client.images.pull(image)
    except docker.errors.DockerException as exc:
        reason = getattr(exc, "explanation", None) or exc
        raise DeployError(
            f"image {image!r} is not on the Docker Engine at {engine} and could not be pulled "
            f"({reason}). {did_you_mean(client, image)}Build it there (shipyard build-image ... with "
            f"DOCKER_HOST={engine}), push it to a registry that host can reach, or copy it: "
            f"docker save {image} | docker -H {engine} load"
        ) from exc


def gpu_create_kwargs(gpus: GpuRequest | None) -> dict[str, Any]:
    """``containers.create`` arguments that give a container the requested accelerators.

    NVIDIA uses a device request (the NVIDIA Container Toolkit resolves it); AMD (ROCm) and Intel
    map the kernel's device nodes, which is how their container guides do it.
    """
    if gpus is None:
        return {}
    if gpus.vendor == "nvidia":
        count = 0 if gpus.device_ids else (-1 if gpus.count == "all" else int(gpus.count))
        return {"device_requests": [DeviceRequest(driver="nvidia", count=count,
                                                  device_ids=gpus.device_ids or None,
                                                  capabilities=[["gpu"]])]}
    if gpus.device_ids or gpus.count != "all":
        raise SpecError(f"{gpus.vendor} GPUs are given to a container as whole device nodes; use "
                        f"--gpus {gpus.vendor}:all", field="gpus")
    nodes = ["/dev/kfd", "/dev/dri"] if gpus.vendor == "amd" else ["/dev/dri"]
    return {"devices": [f"{node}:{node}:rwm" for node in nodes], "group_add": ["video"]}


def log_tail(container: docker.models.containers.Container, lines: int = LOG_TAIL_LINES) -> str:
    """The container's last ``lines`` log lines (stdout and stderr), or why they are unavailable."""
    try:
        return container.logs(tail=lines).decode("utf-8", errors="replace").rstrip()
    except docker.errors.DockerException as exc:
        return f"(logs unavailable: {exc})"


def exit_reason(container: docker.models.containers.Container) -> str | None:
    """``None`` while the container runs normally, else what happened to it."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return "the container disappeared (removed by someone else?)"
    state = container.attrs["State"]
    if state.get("OOMKilled"):
        return "the container was killed for running out of memory (raise --memory)"
    if state.get("Restarting"):
        return f"the container keeps restarting (last exit code {state.get('ExitCode')})"
    if container.attrs.get("RestartCount", 0) > 0:
        # Running again after a restart: State.ExitCode now describes the current run (0), so wait
        # briefly for the next exit to report the code the runtime really exits with.
        return f"the container keeps restarting ({_next_exit(container)})"
    if state.get("Status") in ("exited", "dead"):
        return f"the container exited with code {state.get('ExitCode')}"
    return None


def _next_exit(container: docker.models.containers.Container, timeout_s: float = 15.0) -> str:
    try:
        code = container.wait(condition="next-exit", timeout=timeout_s).get("StatusCode")
    except (requests.exceptions.RequestException, docker.errors.DockerException):
        # No exit within the wait (a timeout) or the container vanished: say what we know.
        return f"restarted {container.attrs.get('RestartCount')} times"
    return f"last exit code {code}"


def is_port_taken(exc: docker.errors.APIError) -> bool:
    """Whether starting a container failed because its host port is in use."""
    text = str(exc.explanation or exc).lower()
    return "port is already allocated" in text or "address already in use" in text


def healthcheck(probes: ProbeOptions | None) -> dict[str, Any] | None:
    """Engine API ``Healthcheck`` timing for the image's own test (an empty ``Test`` inherits it).

    The same JSON serves docker-py's ``healthcheck=`` and IoT Edge ``createOptions``.
    """
    if probes is None:
        return None
    second = 1_000_000_000  # the Engine API counts nanoseconds
    return {"Test": [], "Interval": probes.period_seconds * second, "Timeout": probes.timeout_seconds * second,
            "StartPeriod": probes.initial_delay_seconds * second, "Retries": probes.failure_threshold}
