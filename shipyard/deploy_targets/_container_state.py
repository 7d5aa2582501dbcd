"""Reading a deployment back from its container: labels, port, keys and state.

A container-based deployment keeps no state outside the engine, so these functions are how
``status``, ``list`` and updates learn what a container is: the ``dev.shipyard.deployment*``
labels written at creation, the published port, the keys in its keys file, and whether the
runtime inside answers ready.
"""

from __future__ import annotations

from docker.models.containers import Container

from shipyard.deploy_targets._container_keys import read_keys
from shipyard.deploy_targets._http import request
from shipyard.deploy_targets._readiness import READY_PATH
from shipyard.deploy_targets.base import (
    DEFAULT_PORT,
    IMAGE_GRPC_PORT_LABEL,
    IMAGE_PORT_LABEL,
    LABEL_PREFIX,
    Deployment,
    DeploymentState,
)

# Containers also inherit the image's labels (``dev.shipyard.port``, ``dev.shipyard.version``...),
# so everything a deployment adds lives under ``dev.shipyard.deployment``.
LABEL_DEPLOYMENT = f"{LABEL_PREFIX}.deployment"
LABEL_TARGET = f"{LABEL_DEPLOYMENT}.target"
LABEL_OPTIONS = f"{LABEL_DEPLOYMENT}.options"
LABEL_CREATED = f"{LABEL_DEPLOYMENT}.created"
LABEL_HOST_PORT = f"{LABEL_DEPLOYMENT}.host-port"
LABEL_VERSION = f"{LABEL_DEPLOYMENT}.shipyard-version"


def env_dict(container: Container) -> dict[str, str]:
    """The container's environment as a dict."""
    pairs = (item.partition("=") for item in container.attrs["Config"].get("Env") or [])
    return {key: value for key, _, value in pairs}


def service_port(labels: dict[str, str]) -> str:
    """The port the runtime listens on inside, as ``"5001/tcp"``: the image's label, else 5001."""
    return f"{labels.get(IMAGE_PORT_LABEL) or DEFAULT_PORT}/tcp"


def grpc_service_port(labels: dict[str, str]) -> str | None:
    """The port the runtime serves gRPC on inside, as ``"8001/tcp"``; None for an image without gRPC."""
    port = labels.get(IMAGE_GRPC_PORT_LABEL)
    return f"{port}/tcp" if port else None


def host_port(container: Container) -> int | None:
    """The host port the service is published on (while running), else the fixed one, if any."""
    return _published(container, service_port(container.labels))


def grpc_host_port(container: Container) -> int | None:
    """The host port gRPC is published on, if the image serves gRPC."""
    port = grpc_service_port(container.labels)
    return _published(container, port) if port else None


def _published(container: Container, port: str) -> int | None:
    bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(port)
    if bindings:
        return int(bindings[0]["HostPort"])
    configured = (container.attrs["HostConfig"].get("PortBindings") or {}).get(port) or []
    if configured and configured[0].get("HostPort"):
        return int(configured[0]["HostPort"])
    return None


def state(container: Container, base_url: str | None) -> DeploymentState:
    """Azure-style state from the container's status and, while it runs, the runtime's readiness."""
    status = container.attrs["State"]
    if status.get("Status") in ("exited", "dead"):
        return "Failed" if status.get("ExitCode") else "Stopped"
    if status.get("Restarting") or status.get("Status") == "paused":
        return "Unhealthy"
    if status.get("Status") != "running" or base_url is None:
        return "Transitioning"
    try:
        answer = request("GET", base_url + READY_PATH, timeout=2.0)
    except OSError:
        return "Unhealthy"
    if answer.status == 200:
        return "Healthy"
    return "Unhealthy" if "failed" in answer.text.lower() else "Transitioning"


def describe(container: Container, target: str, engine: str, base_url: str | None) -> Deployment:
    """The :class:`Deployment` a container is; ``base_url`` is ``http://host:port`` or None."""
    return Deployment(
        name=container.labels[LABEL_DEPLOYMENT],
        target=target,
        image=container.attrs["Config"]["Image"],
        state=state(container, base_url),
        scoring_uri=f"{base_url}/score" if base_url else None,
        swagger_uri=f"{base_url}/swagger.json" if base_url else None,
        keys=read_keys(container, env_dict(container)),
        created_at=container.labels.get(LABEL_CREATED) or None,
        details={
            "container_id": container.short_id,
            "image_id": container.attrs["Image"],
            "docker_host": engine,
            "host_port": host_port(container),
            "grpc_host_port": grpc_host_port(container),
            "restart_count": container.attrs.get("RestartCount", 0),
            "status": container.status,
        },
    )
