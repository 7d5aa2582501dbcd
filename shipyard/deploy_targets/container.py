"""The ``container`` target: one container on a local or remote Docker Engine (like Azure's ACI).

State lives on the container: its name is the deployment's name, and labels record what
Shipyard needs later (``dev.shipyard.deployment``, ``dev.shipyard.deployment.options``...). The API keys
are handed to the runtime as a 0400 file put into the container before it starts, never baked
into the image and never in its environment, so ``docker inspect`` does not show them (see
:mod:`~shipyard.deploy_targets._container_keys`).

Update order (one fixed host port means old and new cannot both listen): create the new
container, stopped; stop the old one and rename it aside; start the new one under the real name
and wait for readiness; then remove the old one. If the new one never gets ready, it is removed
and the old one is renamed back and restarted, so a failed update leaves the previous version
serving, with the same URI and keys.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

import docker
import docker.errors
from docker.models.containers import Container
from pydantic import AliasChoices, Field

from shipyard import __version__
from shipyard.deploy_targets import _docker
from shipyard.deploy_targets._container_state import (
    LABEL_CREATED,
    LABEL_DEPLOYMENT,
    LABEL_HOST_PORT,
    LABEL_OPTIONS,
    LABEL_TARGET,
    LABEL_VERSION,
    describe,
    env_dict,
    grpc_host_port,
    grpc_service_port,
    host_port,
    service_port,
)
from shipyard.deploy_targets._container_keys import KEYS_FILE, KEYS_FILE_ENV, read_keys, write_keys
from shipyard.deploy_targets._keys import KEYS_ENV, resolve_keys
from shipyard.deploy_targets._readiness import NotReadyError, wait_until_ready
from shipyard.deploy_targets._http import request
from shipyard.deploy_targets.base import Deployment, DeploymentKeys, RenderedFiles, validate_name
from shipyard.deploy_targets.options import DeployOptions, ProbeOptions, TargetSettings, merge_options
from shipyard.errors import DeployError, DeploymentNotFoundError

logger = logging.getLogger(__name__)

__all__ = ["LABEL_CREATED", "LABEL_DEPLOYMENT", "LABEL_HOST_PORT", "LABEL_OPTIONS", "LABEL_TARGET", "LABEL_VERSION",
           "ContainerOptions", "ContainerSettings", "ContainerTarget", "RestartPolicy"]

RestartPolicy = Literal["no", "on-failure", "always", "unless-stopped"]

_NEXT, _OLD = "-shipyard-next", "-shipyard-old"  # name suffixes while an update is under way
_AUTO_PORTS = (20000, 32768)


class _PortTaken(DeployError):
    """The host port is in use; ``_create`` tries another when it picked the port itself."""


def _port_candidates(count: int = 8) -> list[int]:
    """Random host ports below Linux's ephemeral range (32768+), where outgoing connections live."""
    return random.sample(range(_AUTO_PORTS[0], _AUTO_PORTS[1]), count)


class ContainerSettings(TargetSettings):
    """Which Docker Engine to use. Environment: ``DOCKER_HOST``, ``SHIPYARD_PUBLIC_HOST``."""

    docker_host: str | None = Field(default=None, validation_alias=AliasChoices("docker_host", "DOCKER_HOST"))
    """Engine address: ``unix:///var/run/docker.sock`` (default), ``tcp://HOST:2375``, ``ssh://USER@HOST``."""
    public_host: str | None = Field(default=None,
                                    validation_alias=AliasChoices("public_host", "SHIPYARD_PUBLIC_HOST"))
    """Host name to put in scoring URIs when clients reach the engine's host by another name."""


class ContainerOptions(DeployOptions):
    """Options of the ``container`` target (Azure ``AciWebservice.deploy_configuration`` cousins)."""

    port: int | None = Field(default=None, ge=1, le=65535)
    """Host port to publish the service on; default: a free one in 20000-32767, kept from then on."""
    grpc_port: int | None = Field(default=None, ge=1, le=65535)
    """Host port to publish gRPC on (images that serve it); default: one the engine picks, kept on updates."""
    bind_address: str = "0.0.0.0"
    """Host address to publish on; ``127.0.0.1`` keeps a local service off the network."""
    restart_policy: RestartPolicy = "unless-stopped"
    """What the engine does when the container stops: Docker's ``--restart`` values."""
    probes: ProbeOptions | None = None
    """Healthcheck timing (interval, timeout, start period, retries) for the image's own check;
    default: the image's (30 s, 5 s, 60 s, 3)."""


class ContainerTarget:
    """Deployments as single containers on one Docker Engine."""

    name: ClassVar[str] = "container"
    options_model: ClassVar[type[DeployOptions]] = ContainerOptions
    settings_model: ClassVar[type[TargetSettings]] = ContainerSettings

    def __init__(self, settings: ContainerSettings | None = None) -> None:
        self.settings = settings or ContainerSettings()
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = _docker.connect(self.settings.docker_host)
        return self._client

    @property
    def engine(self) -> str:
        return _docker.engine_address(self.settings.docker_host)

    # -- the protocol ----------------------------------------------------------------------------
    def render(self, name: str, image: str, options: DeployOptions) -> RenderedFiles:
        raise DeployError("the container target has no files to write (--output is for kubernetes); "
                          "leave --output out to deploy")

    def deploy(self, name: str, image: str, options: DeployOptions) -> Deployment:
        validate_name(name)
        current = self._find(name)
        _docker.ensure_image(self.client, image, self.engine)
        if current is None:
            return self._create(name, image, _as_container_options(options))
        return self._update(name, current, image, options)

    def status(self, name: str) -> Deployment:
        return self._describe(self._require(name))

    def logs(self, name: str, *, tail: int = 200) -> str:
        return _docker.log_tail(self._require(name), tail)

    def delete(self, name: str) -> None:
        container = self._require(name)
        for leftover in self._update_leftovers(name):
            leftover.remove(force=True)
        container.remove(force=True)
        logger.info("deleted deployment %s (container %s) on %s", name, container.short_id, self.engine)

    def list(self) -> list[Deployment]:
        containers = self.client.containers.list(
            all=True, filters={"label": [LABEL_DEPLOYMENT, f"{LABEL_TARGET}={self.name}"]})
        return [self._describe(c) for c in containers if c.name == c.labels.get(LABEL_DEPLOYMENT)]

    # -- create and update -----------------------------------------------------------------------
    def _create(self, name: str, image: str, options: ContainerOptions) -> Deployment:
        keys = resolve_keys(options, None)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        # Without --port we still publish a fixed port, picked here: a port the engine picks at
        # random changes whenever the container restarts, and the scoring URI must not.
        candidates = [options.port] if options.port else _port_candidates()
        for attempt, port in enumerate(candidates, start=1):
            container = self._new_container(name, image, options, keys, created, port)
            try:
                self._start_and_wait(container, options, keys)
                break
            except _PortTaken:
                container.remove(force=True)
                if attempt == len(candidates):
                    raise
                logger.info("port %d is taken on %s; trying another", port, self.engine)
            except BaseException:
                container.remove(force=True)
                raise
        logger.info("deployed %s (%s) on %s", name, image, self.engine)
        return self.status(name)

    def _update(self, name: str, old: Container, image: str, given: DeployOptions) -> Deployment:
        stored = json.loads(old.labels.get(LABEL_OPTIONS, "{}"))
        options = merge_options(ContainerOptions, stored, given, what="options for target 'container'")
        keys = resolve_keys(options, read_keys(old, env_dict(old)))
        port = options.port or host_port(old)
        if options.grpc_port is None and grpc_host_port(old):
            options = options.model_copy(update={"grpc_port": grpc_host_port(old)})
        was_running = old.status == "running"
        for leftover in self._update_leftovers(name):
            leftover.remove(force=True)
        new = self._new_container(name + _NEXT, image, options, keys,
                                  old.labels.get(LABEL_CREATED), port, deployment=name)
        old.stop()
        old.rename(name + _OLD)
        try:
            new.rename(name)
            self._start_and_wait(new, options, keys)
        except BaseException as exc:
            new.remove(force=True)
            old.rename(name)
            restored = self._restore(old, options) if was_running else "left stopped, as it was"
            if isinstance(exc, DeployError):
                raise DeployError(f"update of '{name}' to {image} failed; the previous version was put "
                                  f"back ({restored}). {exc}") from exc
            raise
        old.remove(force=True)
        logger.info("updated %s to %s on %s", name, image, self.engine)
        return self.status(name)

    def _restore(self, old: Container, options: ContainerOptions) -> str:
        """Start the previous container again after a failed update; say how that went."""
        try:
            old.start()
            old.reload()
            wait_until_ready(self._base_url(old), timeout_s=options.timeout_s,
                             check_alive=lambda: _docker.exit_reason(old))
        except (docker.errors.APIError, NotReadyError) as exc:
            return f"but it did not get ready again: {exc}"
        return "serving again at the same URI with the same keys"

    def _new_container(self, container_name: str, image: str, options: ContainerOptions,
                       keys: DeploymentKeys | None, created: str | None, port: int | None, *,
                       deployment: str | None = None) -> Container:
        deployment = deployment or container_name
        labels = {
            LABEL_DEPLOYMENT: deployment,
            LABEL_TARGET: self.name,
            LABEL_OPTIONS: json.dumps(options.stored(), sort_keys=True),
            LABEL_CREATED: created or "",
            LABEL_VERSION: __version__,
        }
        if options.port:
            labels[LABEL_HOST_PORT] = str(options.port)
        image_attrs = self.client.images.get(image).attrs
        image_labels = image_attrs["Config"].get("Labels") or {}
        environment = {key: value for key, value in options.env.items() if key not in (KEYS_ENV, KEYS_FILE_ENV)}
        if keys is not None:
            environment[KEYS_FILE_ENV] = KEYS_FILE  # the path only: the keys go in as a file, below
        restart: dict[str, Any] = {"Name": options.restart_policy}
        if options.restart_policy == "on-failure":
            restart["MaximumRetryCount"] = 5
        try:
            container = self.client.containers.create(
                image,
                name=container_name,
                detach=True,
                environment=environment,
                ports=_published_ports(image_labels, options, port),
                labels=labels,
                restart_policy=restart,
                nano_cpus=int(options.cpu_cores * 1e9) if options.cpu_cores else None,
                mem_limit=int(options.memory_gb * 1e9) if options.memory_gb else None,
                security_opt=["no-new-privileges:true"],
                healthcheck=_docker.healthcheck(options.probes),
                **_docker.gpu_create_kwargs(options.gpus),
            )
        except docker.errors.APIError as exc:
            raise DeployError(f"the engine at {self.engine} refused to create container "
                              f"'{container_name}': {exc.explanation or exc}") from exc
        if keys is not None:
            try:
                write_keys(container, keys, image_attrs["Config"].get("User"))
            except BaseException:
                container.remove(force=True)
                raise
        return container

    def _start_and_wait(self, container: Container, options: ContainerOptions,
                        keys: DeploymentKeys | None) -> None:
        try:
            container.start()
        except docker.errors.APIError as exc:
            if _docker.is_port_taken(exc):
                raise _PortTaken(self._port_taken_message(container, options)) from exc
            raise DeployError(f"container '{container.name}' did not start on {self.engine}: "
                              f"{exc.explanation or exc}") from exc
        container.reload()
        url = self._base_url(container)
        try:
            wait_until_ready(url, timeout_s=options.timeout_s,
                             check_alive=lambda: _docker.exit_reason(container))
        except NotReadyError as exc:
            raise DeployError(
                f"deployment '{container.labels[LABEL_DEPLOYMENT]}' did not become ready at {url}: "
                f"{exc.reason}. It has been removed. Last {_docker.LOG_TAIL_LINES} log lines:\n"
                f"{_docker.log_tail(container)}") from exc
        if keys is not None:
            _check_auth_is_on(container, url)

    def _port_taken_message(self, container: Container, options: ContainerOptions) -> str:
        port = options.port or host_port(container)
        holder = ""
        for other in self.client.containers.list():
            for bindings in (other.ports or {}).values():
                if any(b.get("HostPort") == str(port) for b in bindings or []):
                    holder = f" by container '{other.name}'"
        return (f"port {port} on {self.engine} is already in use{holder}; choose another with --port "
                "or leave --port out to let the engine pick a free one")

    # -- reading state back ----------------------------------------------------------------------
    def _find(self, name: str) -> Container | None:
        try:
            container = self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        if container.labels.get(LABEL_DEPLOYMENT) != name:
            raise DeployError(f"a container named '{name}' exists on {self.engine} but is not a Shipyard "
                              "deployment; pick another --name or remove that container")
        owner = container.labels.get(LABEL_TARGET)
        if owner != self.name:
            raise DeployError(f"deployment '{name}' on {self.engine} belongs to target '{owner}'; "
                              f"use --target {owner} for it, or pick another --name")
        return container

    def _require(self, name: str) -> Container:
        container = self._find(name)
        if container is None:
            raise DeploymentNotFoundError(f"no deployment named '{name}' on the Docker Engine at {self.engine}; "
                                          "'shipyard list' shows the deployments there")
        return container

    def _update_leftovers(self, name: str) -> list[Container]:
        """Containers a crashed update left behind (``<name>-shipyard-next/-old``)."""
        found = self.client.containers.list(all=True, filters={"label": f"{LABEL_DEPLOYMENT}={name}"})
        return [c for c in found if c.name in (name + _NEXT, name + _OLD)]

    def _base_url(self, container: Container) -> str:
        options = json.loads(container.labels.get(LABEL_OPTIONS, "{}"))
        host = _docker.published_host(self.settings.docker_host, options.get("bind_address", "0.0.0.0"),
                                      self.settings.public_host)
        return f"http://{host}:{host_port(container)}"

    def _describe(self, container: Container) -> Deployment:
        port = host_port(container)
        return describe(container, self.name, self.engine, self._base_url(container) if port else None)


def _check_auth_is_on(container: Container, url: str) -> None:
    """Refuse a runtime that ignored the keys file (one older than ``SHIPYARD_API_KEYS_FILE``):
    it would serve without authentication, silently.

    Raises:
        DeployError: a protected route answered without a key.
    """
    try:
        answer = request("GET", url + "/v2", timeout=5.0)
    except OSError:
        return  # readiness passed a moment ago; the status check will tell
    if answer.status != 401:
        raise DeployError(
            f"container '{container.name}' answers GET /v2 without an API key ({answer.status}): its image's "
            f"runtime does not read {KEYS_FILE_ENV}, so auth would be off; rebuild the image with this version "
            "of Shipyard, or deploy with auth_enabled: false")


def _published_ports(image_labels: dict[str, str], options: ContainerOptions, port: int | None) -> dict[str, Any]:
    """Docker's ``ports``: the HTTP port on *port*, and gRPC (when the image serves it) on its own."""
    ports: dict[str, Any] = {service_port(image_labels): (options.bind_address, port)}
    grpc = grpc_service_port(image_labels)
    if grpc is not None:
        ports[grpc] = (options.bind_address, options.grpc_port)  # None: the engine picks
    return ports


def _as_container_options(options: DeployOptions) -> ContainerOptions:
    if isinstance(options, ContainerOptions):
        return options
    return ContainerOptions.model_validate(options.model_dump(exclude_unset=True))
