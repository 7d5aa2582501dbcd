"""What every deploy target is: one small protocol and the plain objects it returns.

A target puts an image somewhere it can serve (a Docker host, a Kubernetes cluster, an edge
device) and answers questions about it later. It keeps no local state: everything it needs to
answer ``status``, ``logs`` or ``list`` is read back from the target itself (container labels,
Kubernetes labels and annotations), so two laptops and a CI job see the same deployments.

Implement :class:`DeployTarget` in one module per target and register it (see
:mod:`shipyard.deploy_targets.registry`). The shared pieces a target needs (key generation,
readiness polling, option merging) live in small private modules next to this one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from shipyard.deploy_targets.options import DeployOptions, TargetSettings
from shipyard.errors import SpecError
from shipyard.runtime.settings import DEFAULT_PORT

__all__ = ["DEFAULT_GRPC_PORT", "DEFAULT_PORT", "IMAGE_GRPC_PORT_LABEL", "IMAGE_PORT_LABEL", "LABEL_PREFIX", "Deployment", "DeploymentKeys",
           "DeploymentState", "DeployTarget", "RenderedFiles", "validate_name"]

DeploymentState = Literal["Transitioning", "Healthy", "Unhealthy", "Failed", "Stopped"]
"""Azure ML's webservice states (plus ``Stopped``), so scripts that poll ``state`` keep working."""

# Azure ML's rule for service names; it is also a valid DNS label, container and Secret name.
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")

LABEL_PREFIX = "dev.shipyard"
"""Prefix of every label and annotation Shipyard writes, the same one the builder puts on images
(``dev.shipyard.deployment`` on Docker, ``dev.shipyard/deployment`` on Kubernetes)."""

IMAGE_PORT_LABEL = f"{LABEL_PREFIX}.port"
"""Image label (set by the builder) with the port the runtime listens on inside the image."""
DEFAULT_GRPC_PORT = 8001
"""The gRPC port images serve by default (the spec's ``grpc_port``; Triton's)."""
IMAGE_GRPC_PORT_LABEL = f"{LABEL_PREFIX}.grpc-port"
"""Image label with the port the runtime serves gRPC on inside the image; absent: no gRPC."""


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid deployment name, else raise :class:`SpecError`."""
    if not _NAME_RE.match(name):
        raise SpecError(
            f"deployment name {name!r} is not valid: use 3-32 characters, lowercase letters, "
            "digits and '-', starting with a letter and not ending with '-' (e.g. 'iris-prod')",
            field="name",
        )
    return name


@dataclass(frozen=True)
class DeploymentKeys:
    """The two keys a deployment accepts as ``Authorization: Bearer <key>``, like Azure's.

    Two keys let you rotate one while clients still use the other.
    """

    primary: str
    secondary: str

    def as_list(self) -> list[str]:
        """Both keys, primary first (the order the runtime's ``SHIPYARD_API_KEYS`` takes)."""
        return [self.primary, self.secondary]

    def to_dict(self) -> dict[str, str]:
        return {"primary": self.primary, "secondary": self.secondary}


@dataclass
class Deployment:
    """One deployment as its target reports it now."""

    name: str
    target: str
    image: str
    state: DeploymentState
    scoring_uri: str | None
    """``.../score``; ``None`` while the target has no address for it (e.g. stopped)."""
    swagger_uri: str | None
    keys: DeploymentKeys | None
    """``None`` when auth is off (``--no-auth``)."""
    created_at: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Target-specific facts: container id and host port, namespace and replica counts..."""

    @property
    def auth_enabled(self) -> bool:
        return self.keys is not None

    def to_dict(self, *, include_keys: bool = True) -> dict[str, Any]:
        """A JSON-ready dict; ``keys`` is a ``{"primary", "secondary"}`` object or ``None``."""
        data: dict[str, Any] = {
            "name": self.name,
            "target": self.target,
            "image": self.image,
            "state": self.state,
            "scoring_uri": self.scoring_uri,
            "swagger_uri": self.swagger_uri,
            "auth_enabled": self.auth_enabled,
            "created_at": self.created_at,
            "details": self.details,
        }
        if include_keys:
            data["keys"] = self.keys.to_dict() if self.keys else None
        return data


@dataclass
class RenderedFiles:
    """What a target would create, as files: name -> text. ``secret`` names those holding keys.

    ``write_extra``, when set, writes the files a target makes itself (large or binary ones, such
    as the edge target's image archive) into the output folder and returns their paths.
    """

    files: dict[str, str]
    secret: set[str] = field(default_factory=set)
    write_extra: Callable[[Path], list[Path]] | None = None


@runtime_checkable
class DeployTarget(Protocol):
    """A place deployments run. One module per target implements this.

    Targets are built with their connection settings (``settings_model``) and take per-deployment
    options (``options_model``); both are pydantic models with a docstring on every field, so the
    CLI and docs can describe them. Nothing may happen in ``__init__`` beyond storing settings:
    connect lazily, so ``shipyard list --help`` never needs a cluster.
    """

    name: ClassVar[str]
    """The name users pass as ``--target``."""
    options_model: ClassVar[type[DeployOptions]]
    settings_model: ClassVar[type[TargetSettings]]

    def render(self, name: str, image: str, options: DeployOptions) -> RenderedFiles:
        """What ``deploy`` would create, as files; raises DeployError if the target has none."""
        ...

    def deploy(self, name: str, image: str, options: DeployOptions) -> Deployment:
        """Create ``name`` running ``image``, or update it if it exists, and wait until ready.

        On update, options the caller did not set (``options.model_fields_set``) keep the values
        the deployment has now, and its keys and scoring URI stay the same.

        Raises:
            DeployError: the image is missing, a resource is taken, or the service did not become
                ready (with the last lines of its log). Nothing half-made is left behind.
        """
        ...

    def status(self, name: str) -> Deployment:
        """Read the deployment back from the target. Raises DeploymentNotFoundError."""
        ...

    def logs(self, name: str, *, tail: int = 200) -> str:
        """The last ``tail`` lines of the service's log. Raises DeploymentNotFoundError."""
        ...

    def delete(self, name: str) -> None:
        """Remove everything the deployment made. Raises DeploymentNotFoundError."""
        ...

    def list(self) -> list[Deployment]:
        """Every Shipyard deployment on the target."""
        ...

