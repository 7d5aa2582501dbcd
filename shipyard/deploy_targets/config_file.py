"""``deployment.yaml``: a deployment's settings in a file, for ``shipyard deploy --config``.

The file holds what the ``deploy`` flags would say: the target, where it is (``settings``:
namespace, engine...) and how to run (``options``: the target's own options model, the same one
the flags fill). ``shipyard import`` writes it; people edit it. Flags given on the command line
override the file, field by field::

    name: iris
    target: kubernetes
    settings: {namespace: ml}
    options: {cpu_cores: 1, memory_gb: 2, min_replicas: 2, max_replicas: 5, env: {SHIPYARD_WORKERS: "2"}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shipyard.builder._yaml import load_yaml
from shipyard.deploy_targets.options import parse_model
from shipyard.deploy_targets.registry import load_target_class
from shipyard.errors import SpecError


class DeploymentConfig(BaseModel):
    """The top level of ``deployment.yaml``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str | None = None
    """Deployment name (``--name`` overrides it)."""
    target: str = "container"
    """Target name: container, kubernetes, edge (``--target`` overrides it)."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Where: the target's settings (``namespace``, ``docker_host``, ``context``...)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """How: the target's options, validated by its options model (``cpu_cores``, ``replicas``...)."""


def load_deployment_config(path: str | Path) -> DeploymentConfig:
    """Read and check ``deployment.yaml``: the options must be valid for the file's target.

    Raises:
        SpecError: the file is missing or invalid; the message names the file, the field and the line.
    """
    path = Path(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError("expected a mapping with name, target, settings, options", file=str(path))
    try:
        config = DeploymentConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        message = (f"unknown field '{loc[-1]}' (allowed: {', '.join(DeploymentConfig.model_fields)})"
                   if error["type"] == "extra_forbidden" else error["msg"])
        raise SpecError(message, file=str(path), field=".".join(map(str, loc)), line=lines.line_of(loc)) from None
    target = load_target_class(config.target)
    try:
        parse_model(target.options_model, config.options, what=f"options for target '{config.target}'")
    except SpecError as exc:
        field = f"options.{exc.field}" if exc.field else "options"
        line = lines.line_of(("options", exc.field) if exc.field else ("options",))
        message = str(exc).removeprefix(f"field '{exc.field}': ") if exc.field else str(exc)
        raise SpecError(message, file=str(path), field=field, line=line) from None
    return config


def merged_options(config: DeploymentConfig, given: dict[str, Any]) -> dict[str, Any]:
    """The file's options with the flags that were given on top (``env`` merged key by key)."""
    merged = {**config.options, **given}
    if "env" in config.options and "env" in given:
        merged["env"] = {**config.options["env"], **given["env"]}
    return merged
