"""Options every deploy target shares, and the helpers that validate and merge them.

Names follow Azure ML's ``deploy_configuration`` (``cpu_cores``, ``memory_gb``, ``auth_enabled``,
``primary_key``...), because that is what users moving from ``AciWebservice``/``AksWebservice``
already know. Each target subclasses :class:`DeployOptions` with its own fields; every model
forbids unknown fields so a typo (or an option meant for another target) is an error, not a no-op.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shipyard.errors import SpecError

GpuVendor = Literal["nvidia", "amd", "intel"]

_MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?)?\s*$", re.IGNORECASE)
_UNIT_GB = {"k": 1e-6, "m": 1e-3, "g": 1.0, "t": 1e3}
_UNIT_GIB = {"k": 2**10 / 1e9, "m": 2**20 / 1e9, "g": 2**30 / 1e9, "t": 2**40 / 1e9}
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MANAGED_ENV = ("SHIPYARD_API_KEYS", "SHIPYARD_API_KEYS_FILE")
"""Environment variables a target sets itself; users set them through options instead."""


def parse_memory_gb(value: object) -> object:
    """``1.5`` / ``"1.5"`` (GB), ``"512m"``, ``"512Mi"``, ``"2g"``, ``"2Gi"`` -> gigabytes (float)."""
    if not isinstance(value, str):
        return value
    match = _MEMORY_RE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size: use GB as a number (1.5) or a unit (512Mi, 2G)")
    number, unit = float(match.group(1)), (match.group(2) or "g").lower()
    table = _UNIT_GIB if "i" in unit else _UNIT_GB
    return round(number * table[unit[0]], 6)


class GpuRequest(BaseModel):
    """A wish for accelerators that each target turns into its own mechanism.

    The container target makes it a Docker device request (NVIDIA) or device mappings (AMD,
    Intel); the Kubernetes target makes it an extended-resource limit (``nvidia.com/gpu``...) plus
    a toleration for the matching taint.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    count: int | Literal["all"] = 1
    """How many devices; ``all`` for every device on the host (containers only)."""
    device_ids: list[str] = Field(default_factory=list)
    """Specific devices by index or UUID (containers only); overrides ``count``."""
    vendor: GpuVendor = "nvidia"
    """Whose devices: decides the Docker driver and the Kubernetes resource name."""

    @field_validator("count")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("GPU count must be at least 1 (leave --gpus out for none)")
        return value

    @classmethod
    def parse(cls, text: str) -> GpuRequest:
        """Parse Docker's ``--gpus`` syntax: ``all``, ``2``, ``device=0,1``, optionally ``amd:2``.

        Raises:
            SpecError: the text is none of these.
        """
        vendor, _, spec = text.rpartition(":")
        fields: dict[str, Any] = {"vendor": vendor} if vendor else {}
        spec = spec.strip()
        if spec.startswith("device="):
            fields["device_ids"] = [d.strip() for d in spec[len("device="):].split(",") if d.strip()]
        elif spec == "all" or spec.isdigit():
            fields["count"] = spec if spec == "all" else int(spec)
        else:
            raise SpecError(f"--gpus {text!r} is not valid: use 'all', a count such as '1', "
                            "'device=0,1', or prefix a vendor ('amd:1', 'intel:all')", field="gpus")
        return parse_model(cls, fields, what="--gpus")

    @property
    def kubernetes_resource(self) -> str:
        """The extended resource the vendor's device plugin advertises."""
        return {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "intel": "gpu.intel.com/i915"}[self.vendor]


class ProbeOptions(BaseModel):
    """Health probe timing, with Azure ``AksWebservice.deploy_configuration``'s names.

    Kubernetes makes these liveness/readiness probes; the container target makes them the
    container's Docker healthcheck (interval, timeout, start period, retries) on the image's check.
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    period_seconds: int = Field(default=10, ge=1)
    """How often the liveness probe runs (readiness runs twice as often)."""
    initial_delay_seconds: int = Field(default=5, ge=0)
    """Wait before the first liveness probe. Small is fine: ``/v2/health/live`` answers while init() runs."""
    timeout_seconds: int = Field(default=2, ge=1)
    """How long one probe may take."""
    failure_threshold: int = Field(default=3, ge=1)
    """Failed probes in a row before a pod is restarted (liveness) or taken out of the Service."""
    success_threshold: int = Field(default=1, ge=1)
    """Passed probes in a row before a pod counts as ready again (readiness only: Kubernetes requires 1
    for liveness)."""


class DeployOptions(BaseModel):
    """Options every target accepts. Targets subclass this and add their own fields."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    cpu_cores: float | None = Field(default=None, gt=0)
    """CPU cores (fractions allowed). Containers: a hard limit; Kubernetes: the pod's request."""
    memory_gb: float | None = Field(default=None, gt=0)
    """Memory in GB (``1.5``, or with a unit: ``512Mi``, ``2G``). Containers: a hard limit;
    Kubernetes: the pod's request."""
    gpus: GpuRequest | None = None
    """Accelerators to give the service (Docker ``--gpus`` syntax on the CLI)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables for the service, e.g. ``SHIPYARD_WORKERS=2``."""
    auth_enabled: bool = True
    """Require ``Authorization: Bearer <key>`` on scoring calls. On by default, unlike ACI."""
    primary_key: SecretStr | None = None
    """Use this primary key instead of generating one (kept across updates otherwise)."""
    secondary_key: SecretStr | None = None
    """Use this secondary key instead of generating one."""
    timeout_s: float = Field(default=300.0, gt=0)
    """How long to wait for the service to become ready before giving up and cleaning up."""

    @field_validator("memory_gb", mode="before")
    @classmethod
    def _memory_units(cls, value: object) -> object:
        return parse_memory_gb(value)

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for key in env:
            if not _ENV_NAME_RE.match(key):
                raise ValueError(f"environment variable name {key!r} is not valid (use A-Z, 0-9, _)")
            if key in MANAGED_ENV:
                raise ValueError(f"{key} is set by the target from the deployment's keys; "
                                 "pass --primary-key/--secondary-key or --no-auth instead")
        return env

    def stored(self) -> dict[str, Any]:
        """The options the caller set, as JSON-ready data without keys or one-off settings.

        Targets store this on the deployment (a label or annotation) so a later update can keep
        what was chosen before. Keys are stored separately, where only the service reads them.
        """
        return self.model_dump(mode="json", exclude_unset=True,
                               exclude={"primary_key", "secondary_key", "timeout_s"})


class TargetSettings(BaseSettings):
    """How to reach a target (engine address, cluster context...). Targets subclass this."""

    model_config = SettingsConfigDict(extra="forbid", use_attribute_docstrings=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_model(model: type[ModelT], data: dict[str, Any], *, what: str) -> ModelT:
    """Validate ``data`` into ``model``; turn pydantic's error into a :class:`SpecError`.

    ``what`` names the thing for the message, e.g. ``"options for target 'container'"``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        allowed = ", ".join(sorted(model.model_fields))
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(options)"
            if error["type"] == "extra_forbidden":
                problems.append(f"'{field}' is not accepted (accepted: {allowed})")
            else:
                problems.append(f"'{field}': {error['msg']} (got {error.get('input')!r})")
        first = str(exc.errors()[0]["loc"][0]) if exc.errors() and exc.errors()[0]["loc"] else None
        raise SpecError(f"invalid {what}: " + "; ".join(problems), field=first) from None


def merge_options(model: type[ModelT], stored: dict[str, Any], given: DeployOptions, *, what: str) -> ModelT:
    """Options for an update: what is stored on the deployment, overridden by what was given."""
    merged = {**stored, **given.model_dump(exclude_unset=True)}
    return parse_model(model, merged, what=what)
