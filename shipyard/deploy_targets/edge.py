"""The ``edge`` target: IoT edge devices that run a Docker Engine, reached over SSH or TCP, or not at all.

Three ways out, one bundle (see :mod:`shipyard.deploy_targets._bundle`):

* ``--output DIR`` without a device: write the offline bundle and the IoT Edge deployment manifest
  (``deployment.json``) for an operator to carry to the device or hand to an IoT hub.
* ``--device tcp://HOST:2375`` (or ``unix://``): load the image archive into the device's engine
  over the Docker API (skipped when the device already has that image id, which matters on a
  slow link) and run it the way the ``container`` target does: same labels, readiness wait and
  rollback, so ``status``/``logs``/``delete``/``list`` work the same.
* ``--device ssh://USER@HOST``: copy the bundle to the device and run its ``install.sh`` there,
  the same script an operator runs by hand; it verifies every checksum before touching the
  running container.

The device's engine runs images of its own architecture: build with ``--platform linux/arm64``
for ARM boards (``shipyard base-image build --platform linux/arm64`` first).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import docker
import docker.errors
from pydantic import AliasChoices, Field

from shipyard import __version__
from shipyard.deploy_targets import _docker
from shipyard.deploy_targets._bundle import (
    Bundle,
    BundleContainer,
    verify_bundle,
    write_bundle,
)
from shipyard.deploy_targets._iotedge import EdgeModule, render_deployment_manifest
from shipyard.deploy_targets._keys import KEYS_ENV, keys_env_value, resolve_keys
from shipyard.deploy_targets._readiness import READY_PATH
from shipyard.deploy_targets._ship import install_over_ssh, load_over_api
from shipyard.deploy_targets.base import (
    DEFAULT_GRPC_PORT,
    DEFAULT_PORT,
    IMAGE_GRPC_PORT_LABEL,
    IMAGE_PORT_LABEL,
    Deployment,
    DeploymentKeys,
    RenderedFiles,
    validate_name,
)
from shipyard.deploy_targets.container import (
    LABEL_CREATED,
    LABEL_DEPLOYMENT,
    LABEL_HOST_PORT,
    LABEL_OPTIONS,
    LABEL_TARGET,
    LABEL_VERSION,
    ContainerOptions,
    ContainerSettings,
    ContainerTarget,
    RestartPolicy,
)
from shipyard.deploy_targets.options import DeployOptions, ProbeOptions, TargetSettings
from shipyard.errors import DeployError, DeploymentNotFoundError

logger = logging.getLogger(__name__)

# Docker restart policy -> IoT Edge module restartPolicy
_EDGE_RESTART = {"no": "never", "on-failure": "on-failure", "always": "always", "unless-stopped": "always"}


class EdgeSettings(TargetSettings):
    """Where the image is and which device gets it. Environment: ``SHIPYARD_EDGE_DEVICE``, ``DOCKER_HOST``."""

    device: str | None = Field(default=None, validation_alias=AliasChoices("device", "SHIPYARD_EDGE_DEVICE"))
    """The device's Docker Engine: ``ssh://USER@HOST[:PORT]``, ``tcp://HOST:2375`` or ``unix://PATH``;
    none to only write the bundle."""
    docker_host: str | None = Field(default=None, validation_alias=AliasChoices("docker_host", "DOCKER_HOST"))
    """The local engine that holds (or builds) the image; default: ``DOCKER_HOST`` or the local socket."""
    public_host: str | None = Field(default=None,
                                    validation_alias=AliasChoices("public_host", "SHIPYARD_PUBLIC_HOST"))
    """Host name to put in scoring URIs when clients reach the device by another name."""
    remote_dir: str = Field(default="/var/lib/shipyard/bundles",
                            validation_alias=AliasChoices("remote_dir", "SHIPYARD_EDGE_REMOTE_DIR"))
    """Where ``ssh://`` deploys keep the bundle on the device (one folder per deployment)."""


GRPC_PORT_OFFSET = DEFAULT_GRPC_PORT - DEFAULT_PORT  # 3000: 5001 -> 8001, 5002 -> 8002


class EdgeOptions(DeployOptions):
    """Options of the ``edge`` target."""

    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    """Port published on the device (fixed, so clients and the IoT Edge manifest know it)."""
    grpc_port: int | None = Field(default=None, ge=1, le=65535)
    """Device port to publish gRPC on, when the image serves it; default: ``port + 3000`` (8001 with
    the default port), so two deployments on different ports do not collide on gRPC either."""
    restart_policy: RestartPolicy = "always"
    """What the device's engine does when the container stops (Docker ``--restart`` values)."""
    bundle_dir: Path | None = None
    """Keep the bundle in this folder; default: a temporary one, removed after shipping."""
    image_pull_policy: Literal["never", "on-create"] = "never"
    """IoT Edge manifest: ``never`` uses the image the bundle loaded; ``on-create`` pulls it from a registry."""
    compress_level: int = Field(default=6, ge=1, le=9)
    """gzip level of the image archive: 1 is fastest, 9 smallest."""
    probes: ProbeOptions | None = None
    """Healthcheck timing for the image's own check (as on the container target): in the IoT Edge
    ``createOptions``, the bundle's ``docker run`` and a device deploy."""


class _DeviceContainers(ContainerTarget):
    """The container target on the device's engine, labelling what it runs as ``edge``."""

    name: ClassVar[str] = "edge"


def device_grpc_port(options: EdgeOptions) -> int:
    """The device port gRPC is published on: ``grpc_port``, else ``port + 3000`` (8001 by default)."""
    if options.grpc_port is not None:
        return options.grpc_port
    above = options.port + GRPC_PORT_OFFSET
    return above if above <= 65535 else options.port - GRPC_PORT_OFFSET


def run_args(options: EdgeOptions) -> tuple[str, ...]:
    """``docker run`` arguments for GPUs and limits, from the same GPU mapping the container target uses."""
    kwargs = _docker.gpu_create_kwargs(options.gpus)
    args: list[str] = []
    for request in kwargs.get("device_requests", []):
        if request.get("DeviceIDs"):
            args += ["--gpus", '"device=' + ",".join(request["DeviceIDs"]) + '"']
        else:
            args += ["--gpus", "all" if request["Count"] == -1 else str(request["Count"])]
    for device in kwargs.get("devices", []):
        args += ["--device", device]
    for group in kwargs.get("group_add", []):
        args += ["--group-add", group]
    if options.cpu_cores:
        args += ["--cpus", f"{options.cpu_cores:g}"]
    if options.memory_gb:
        args += ["--memory", str(int(options.memory_gb * 1e9))]
    if options.probes is not None:
        probes = options.probes
        args += ["--health-interval", f"{probes.period_seconds}s", "--health-timeout", f"{probes.timeout_seconds}s",
                 "--health-start-period", f"{probes.initial_delay_seconds}s",
                 "--health-retries", str(probes.failure_threshold)]
    return tuple(args)


def host_config(options: EdgeOptions) -> dict[str, Any]:
    """The same settings as Engine API ``HostConfig`` JSON, for the IoT Edge ``createOptions``."""
    kwargs = _docker.gpu_create_kwargs(options.gpus)
    config: dict[str, Any] = {}
    if kwargs.get("device_requests"):
        config["DeviceRequests"] = [dict(request) for request in kwargs["device_requests"]]
    if kwargs.get("devices"):
        config["Devices"] = [dict(zip(("PathOnHost", "PathInContainer", "CgroupPermissions"), d.split(":")))
                             for d in kwargs["devices"]]
    if kwargs.get("group_add"):
        config["GroupAdd"] = list(kwargs["group_add"])
    if options.cpu_cores:
        config["NanoCpus"] = int(options.cpu_cores * 1e9)
    if options.memory_gb:
        config["Memory"] = int(options.memory_gb * 1e9)
    return config


@contextmanager
def _bundle_folder(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        yield Path(chosen)
        return
    with tempfile.TemporaryDirectory(prefix="shipyard-bundle-") as temporary:
        yield Path(temporary)


class EdgeTarget:
    """Deployments on IoT edge devices that run a Docker Engine."""

    name: ClassVar[str] = "edge"
    options_model: ClassVar[type[DeployOptions]] = EdgeOptions
    settings_model: ClassVar[type[TargetSettings]] = EdgeSettings

    def __init__(self, settings: EdgeSettings | None = None) -> None:
        self.settings = settings or EdgeSettings()
        self._local: docker.DockerClient | None = None
        self._device: _DeviceContainers | None = None

    @property
    def local(self) -> docker.DockerClient:
        """The engine holding the image to ship."""
        if self._local is None:
            self._local = _docker.connect(self.settings.docker_host)
        return self._local

    @property
    def device(self) -> _DeviceContainers:
        """The device's engine, driven like the container target."""
        if not self.settings.device:
            raise DeployError("no edge device given: pass --device ssh://USER@HOST or tcp://HOST:2375 "
                              "(or SHIPYARD_EDGE_DEVICE); to only write the bundle, pass --output DIR")
        if self._device is None:
            self._device = _DeviceContainers(ContainerSettings(docker_host=self.settings.device,
                                                               public_host=self.settings.public_host))
        return self._device

    # -- the protocol ----------------------------------------------------------------------------
    def render(self, name: str, image: str, options: DeployOptions) -> RenderedFiles:
        """The bundle and IoT Edge manifest, written into the output folder by ``write_extra``."""
        validate_name(name)
        edge = _as_edge_options(options)
        keys = resolve_keys(edge, None)
        return RenderedFiles(files={}, write_extra=lambda folder: self.write_bundle(
            name, image, edge, keys, folder).files())

    def deploy(self, name: str, image: str, options: DeployOptions) -> Deployment:
        """Ship the image to the device and start it there; an existing deployment is replaced."""
        validate_name(name)
        edge = _as_edge_options(options)
        device = self.device
        try:
            current = device.status(name).keys
        except DeploymentNotFoundError:
            current = None
        keys = resolve_keys(edge, current)
        with _bundle_folder(edge.bundle_dir) as folder:
            bundle = verify_bundle(self.write_bundle(name, image, edge, keys, folder).path)
            if urlsplit(self.settings.device or "").scheme == "ssh":
                install_over_ssh(self.settings.device or "", self.settings.remote_dir, name, bundle)
            else:
                load_over_api(device.client, bundle, self.settings.device or "")
                device.deploy(name, bundle.image_ref, self._container_options(edge, keys))
        return device.status(name)

    def status(self, name: str) -> Deployment:
        return self.device.status(name)

    def logs(self, name: str, *, tail: int = 200) -> str:
        return self.device.logs(name, tail=tail)

    def delete(self, name: str) -> None:
        self.device.delete(name)

    def list(self) -> list[Deployment]:
        return self.device.list()

    # -- the bundle ------------------------------------------------------------------------------
    @staticmethod
    def _container_options(options: EdgeOptions, keys: DeploymentKeys | None) -> ContainerOptions:
        """What the device's container runs with; explicit keys keep bundle and device in step."""
        fields: dict[str, Any] = {
            "port": options.port, "grpc_port": device_grpc_port(options), "restart_policy": options.restart_policy,
            "env": options.env,
            "gpus": options.gpus, "cpu_cores": options.cpu_cores, "memory_gb": options.memory_gb,
            "timeout_s": options.timeout_s, "auth_enabled": keys is not None, "probes": options.probes,
        }
        if keys is not None:
            fields.update(primary_key=keys.primary, secondary_key=keys.secondary)
        return ContainerOptions.model_validate({k: v for k, v in fields.items() if v is not None})

    def write_bundle(self, name: str, image: str, options: EdgeOptions, keys: DeploymentKeys | None,
                     folder: Path) -> Bundle:
        """Write the offline bundle (image archive, install script, IoT Edge manifest) for *image*."""
        try:
            labels = self.local.images.get(image).labels or {}
        except docker.errors.ImageNotFound:
            labels = {}  # write_bundle says what to do
        container_port = int(labels.get(IMAGE_PORT_LABEL) or DEFAULT_PORT)
        # gRPC, when the image serves it and the options publish it: one more port mapping
        grpc_inside = labels.get(IMAGE_GRPC_PORT_LABEL)
        grpc = {int(grpc_inside): device_grpc_port(options)} if grpc_inside else {}
        publish_grpc = tuple(f"--publish={host}:{inside}" for inside, host in grpc.items())
        env = {**options.env, KEYS_ENV: keys_env_value(keys)}
        stored = self._container_options(options, keys).stored()
        restart = options.restart_policy + (":5" if options.restart_policy == "on-failure" else "")
        container = BundleContainer(
            name=name, container_port=container_port, host_port=options.port, env=env, restart=restart,
            run_args=run_args(options) + publish_grpc, ready_path=READY_PATH, health_timeout_s=int(options.timeout_s),
            labels={LABEL_DEPLOYMENT: name, LABEL_TARGET: self.name, LABEL_OPTIONS: json.dumps(stored, sort_keys=True),
                    LABEL_CREATED: datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    LABEL_HOST_PORT: str(options.port), LABEL_VERSION: __version__})
        module = EdgeModule(name=name, image=image, container_port=container_port, host_port=options.port,
                            more_ports=grpc,
                            env=env, host_config=host_config(options), healthcheck=_docker.healthcheck(options.probes),
                            restart_policy=_EDGE_RESTART[options.restart_policy],  # type: ignore[arg-type]
                            image_pull_policy=options.image_pull_policy)
        return write_bundle(self.local, image, folder, container, render_deployment_manifest(module),
                            compress_level=options.compress_level)

def _as_edge_options(options: DeployOptions) -> EdgeOptions:
    if isinstance(options, EdgeOptions):
        return options
    return EdgeOptions.model_validate(options.model_dump(exclude_unset=True))
