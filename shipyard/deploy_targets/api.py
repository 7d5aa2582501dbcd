"""The deploy API: one function per ``shipyard`` command, each a few lines over a target.

Targets are picked by name (``"container"``, ``"kubernetes"``, or a plugin's) and built with
connection ``settings`` (``docker_host=``, ``namespace=``...); per-deployment ``options`` are a
mapping or the target's options model, validated by that model, so an option meant for another
target is an error that lists the accepted ones::

    from shipyard.deploy_targets import deploy, invoke

    service = deploy("iris:1", name="iris", target="container", options={"cpu_cores": 1})
    print(service.scoring_uri, service.keys.primary)
    print(invoke("iris", b'{"data": [[5.1, 3.5, 1.4, 0.2]]}').text)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.deploy_targets._http import HttpResponse, request
from shipyard.deploy_targets._source import resolve_image
from shipyard.deploy_targets.base import Deployment, DeployTarget, validate_name
from shipyard.deploy_targets.options import DeployOptions, parse_model
from shipyard.deploy_targets.registry import get_target
from shipyard.errors import DeployError, DeploymentNotFoundError, ScoringError

logger = logging.getLogger(__name__)

DEFAULT_TARGET = "container"
Options = Mapping[str, Any] | DeployOptions | None
Settings = Mapping[str, Any] | None


def _target(target: str | DeployTarget, settings: Settings) -> DeployTarget:
    if isinstance(target, str):
        return get_target(target, **dict(settings or {}))
    return target


def _options(target: DeployTarget, options: Options) -> DeployOptions:
    """Validate ``options`` with the target's model, keeping track of which ones were given."""
    if isinstance(options, target.options_model):
        return options
    data = options.model_dump(exclude_unset=True) if isinstance(options, DeployOptions) else dict(options or {})
    return parse_model(target.options_model, data, what=f"options for target '{target.name}'")


def deploy(source: str | Path | None, *, name: str, target: str | DeployTarget = DEFAULT_TARGET,
           options: Options = None, settings: Settings = None) -> Deployment:
    """Deploy an image (or a spec, built first) as ``name``; an existing ``name`` is updated.

    On update, options not given keep their current values, and the scoring URI and keys stay.
    ``source=None`` updates only settings, keeping the image the deployment runs now (Azure's
    ``service.update(...)`` without an image).

    Returns:
        The deployment, ready to score (``scoring_uri``, ``keys``).

    Raises:
        SpecError: bad name or options. DeployError: the target could not run it (with the
            service's last log lines); nothing half-made is left behind.
    """
    validate_name(name)
    chosen = _target(target, settings)
    parsed = _options(chosen, options)
    if source is None:
        try:
            image = chosen.status(name).image
        except DeploymentNotFoundError as exc:
            raise DeploymentNotFoundError(f"{exc}. To create it, give the IMAGE or SPEC to deploy") from exc
    else:
        image = resolve_image(source, docker_host=getattr(getattr(chosen, "settings", None), "docker_host", None))
    return chosen.deploy(name, image, parsed)


def render(source: str | Path, *, name: str, output_dir: str | Path, target: str | DeployTarget = DEFAULT_TARGET,
           options: Options = None, settings: Settings = None) -> list[Path]:
    """Write what ``deploy`` would create (e.g. Kubernetes manifests) into ``output_dir``.

    Files that hold keys are written with mode 0600.

    Returns:
        The files written.
    """
    validate_name(name)
    chosen = _target(target, settings)
    parsed = _options(chosen, options)
    image = resolve_image(source, docker_host=getattr(getattr(chosen, "settings", None), "docker_host", None))
    rendered = chosen.render(name, image, parsed)
    directory = Path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in rendered.files.items():
        path = directory / filename
        path.write_text(text)
        path.chmod(0o600 if filename in rendered.secret else 0o644)
        written.append(path)
    if rendered.write_extra is not None:
        written += rendered.write_extra(directory)
    logger.info("wrote %d files for %s into %s", len(written), name, directory)
    return written


def status(name: str, *, target: str | DeployTarget = DEFAULT_TARGET, settings: Settings = None) -> Deployment:
    """The deployment as its target reports it now (state, scoring URI, keys)."""
    return _target(target, settings).status(name)


def logs(name: str, *, tail: int = 200, target: str | DeployTarget = DEFAULT_TARGET,
         settings: Settings = None) -> str:
    """The last ``tail`` lines of the deployment's log."""
    return _target(target, settings).logs(name, tail=tail)


def delete(name: str, *, target: str | DeployTarget = DEFAULT_TARGET, settings: Settings = None) -> None:
    """Remove the deployment and everything it made. Raises DeploymentNotFoundError."""
    _target(target, settings).delete(name)


def list_deployments(*, target: str | DeployTarget = DEFAULT_TARGET, settings: Settings = None) -> list[Deployment]:
    """Every Shipyard deployment on the target."""
    return _target(target, settings).list()


def invoke(name: str, data: bytes, *, content_type: str | None = None, target: str | DeployTarget = DEFAULT_TARGET,
           settings: Settings = None, timeout_s: float = 60.0) -> HttpResponse:
    """POST ``data`` to the deployment's ``/score`` with its primary key, like Azure's ``service.run``.

    ``content_type`` defaults to ``application/json`` when ``data`` is JSON, else
    ``application/octet-stream``.

    Raises:
        DeployError: the deployment has no scoring URI or does not answer.
        ScoringError: the service answered with an error status (the message has its body).
    """
    deployment = status(name, target=target, settings=settings)
    if not deployment.scoring_uri:
        raise DeployError(f"deployment '{name}' has no scoring URI (state {deployment.state}); "
                          f"see 'shipyard status {name}'")
    if content_type is None:
        try:
            json.loads(data)
            content_type = "application/json"
        except ValueError:
            content_type = "application/octet-stream"
    headers = {"Content-Type": content_type}
    if deployment.keys:
        headers["Authorization"] = f"Bearer {deployment.keys.primary}"
    try:
        answer = request("POST", deployment.scoring_uri, data=data, headers=headers, timeout=timeout_s)
    except OSError as exc:
        raise DeployError(f"deployment '{name}' does not answer at {deployment.scoring_uri}: {exc}") from exc
    if answer.status >= 400:
        hint = ""
        if answer.status >= 500:  # the service's fault: its log has the traceback, under the request id
            where = "" if deployment.target == DEFAULT_TARGET else f" --target {deployment.target}"
            hint = f"\nthe service's log has the details: shipyard logs {name}{where}"
        raise ScoringError(f"{deployment.scoring_uri} answered {answer.status}: {answer.text.strip()[:2000]}{hint}",
                           status_code=answer.status)
    return answer
