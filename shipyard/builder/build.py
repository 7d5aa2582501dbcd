"""Build (and push) an image on a real Docker Engine through the Docker SDK.

This is the only builder module that talks to Docker: it plans, checks the base image, sends the
context from :mod:`shipyard.builder.context` to the engine, follows the log with
:class:`~shipyard.builder.progress.BuildLog` and returns a :class:`BuildResult`. docker-py speaks
the classic builder (no BuildKit), which is why the templates use multi-stage builds rather than
``RUN --mount`` to keep build-only secrets out of the image.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException

from shipyard.builder._docker import docker_client
from shipyard.builder.context import build_context
from shipyard.builder.plan import BASE_PYTHON_LABEL, BuildPlan, plan_build
from shipyard.builder.progress import BuildEvent, BuildLog, StepRecord
from shipyard.builder.spec import DeploymentSpec
from shipyard.builder.support import check_python_supported
from shipyard.errors import BuildError, SpecError

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[BuildEvent], None]
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")


@dataclass
class BuildResult:
    """A built image: its tag and ID, how each step went, and what was built from what."""

    tag: str
    image_id: str
    steps: list[StepRecord]
    duration_s: float
    dockerfile: str
    plan: BuildPlan
    log: list[str] = field(default_factory=list)
    pushed: str | None = None

    @property
    def cached_steps(self) -> int:
        """How many steps the engine took from its cache."""
        return sum(step.cached for step in self.steps)

    def step(self, startswith: str) -> StepRecord:
        """The last step whose instruction starts with *startswith* (for inspection and tests)."""
        for record in reversed(self.steps):
            if record.instruction.startswith(startswith):
                return record
        raise KeyError(startswith)


def build_image(spec: DeploymentSpec, tag: str, *, base_image: str | None = None, platform: str | None = None,
                extra_ca: Path | None = None, push: bool = False, no_cache: bool = False, pull: bool = False,
                progress: ProgressCallback | None = None, client: docker.DockerClient | None = None,
                runtime_wheel: Path | None = None) -> BuildResult:
    """Build the image for *spec* and tag it *tag*; optionally push it.

    Args:
        spec: a validated deployment spec (see :func:`shipyard.builder.load_spec`).
        tag: ``name:tag`` (or ``registry/name:tag`` to push).
        base_image: overrides the spec's base image.
        platform: ``linux/amd64`` or ``linux/arm64`` (needs a base image of that platform).
        extra_ca: a PEM bundle trusted while installing packages; overrides ``build.ca_bundle``.
        push: push *tag* to its registry after the build.
        no_cache: ignore the layer cache.
        pull: pull a newer base image first.
        progress: called with each :class:`BuildEvent` (step, cached, running, output, done).
        client: a Docker SDK client (default: ``DOCKER_HOST`` or the local socket).
        runtime_wheel: install this Shipyard wheel instead of one packed from the running installation.

    Raises:
        SpecError: invalid spec, environment, or a base image with the wrong Python.
        DockerUnavailableError: no engine answers.
        BuildStepError: a step failed; names the step, its command, exit code and output tail.
        BuildError: the base image is missing, or the push failed.
    """
    plan = plan_build(spec, base_image=base_image, platform=platform, extra_ca=extra_ca)
    client = client or docker_client()
    _check_base_image(client, plan, pull=pull)
    context = build_context(plan, runtime_wheel=runtime_wheel)
    log = BuildLog(progress=progress, origins=plan.environment.origins)
    started = time.monotonic()
    logger.info("building %s from %s on %s", tag, plan.base_image, platform or "the engine's platform")
    with context.tar() as archive:
        try:
            stream = client.api.build(
                fileobj=archive, custom_context=True, tag=tag, rm=True, forcerm=True, decode=True,
                nocache=no_cache, pull=pull, platform=platform, buildargs=_proxy_args())
            for record in stream:
                log.feed(record)
        except APIError as exc:
            raise BuildError(f"the Docker Engine refused the build: {exc.explanation or exc}") from exc
        except DockerException as exc:
            raise BuildError(f"the build stopped: {exc}") from exc
    image_id = log.image_id or client.images.get(tag).id
    result = BuildResult(tag=tag, image_id=image_id, steps=log.steps, duration_s=time.monotonic() - started,
                         dockerfile=context.dockerfile, plan=plan, log=log.lines)
    logger.info("built %s (%s) in %.1f s, %d/%d steps cached", tag, image_id[:19], result.duration_s,
                result.cached_steps, len(result.steps))
    if push:
        result.pushed = push_image(tag, progress=progress, client=client)
    return result


def push_image(tag: str, *, progress: ProgressCallback | None = None,
               client: docker.DockerClient | None = None) -> str:
    """Push *tag* to its registry (credentials from ``docker login``); returns the pushed digest.

    Raises:
        BuildError: the registry refused or could not be reached.
    """
    client = client or docker_client()
    repository, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    digest = ""
    try:
        for record in client.images.push(repository, tag=version, stream=True, decode=True):
            if "error" in record:
                raise BuildError(f"pushing {tag} failed: {record['error']}")
            status = record.get("status", "")
            if progress is not None and status:
                progress(BuildEvent("output", text=f"push: {status} {record.get('progress', '')}".rstrip()))
            aux = record.get("aux") or {}
            digest = aux.get("Digest", digest)
    except APIError as exc:
        raise BuildError(f"pushing {tag} failed: {exc.explanation or exc}") from exc
    if not digest:
        raise BuildError(f"pushing {tag} reported no digest; check the registry's logs")
    return f"{repository}@{digest}"


def _check_base_image(client: docker.DockerClient, plan: BuildPlan, *, pull: bool) -> None:
    """Fail before building when the base image is missing or has the wrong Python or platform."""
    try:
        image = client.images.get(plan.base_image)
    except docker.errors.ImageNotFound:
        if not _try_pull(client, plan.base_image, plan.platform):
            hint = ("build a local one with `shipyard base-image build --tag NAME:TAG` and pass --base-image NAME:TAG"
                    if plan.cuda is None else
                    f"load a CUDA {plan.cuda.cuda} base image into the engine (docker load) and pass --base-image")
            raise BuildError(f"base image {plan.base_image} is not in the Docker Engine and cannot be pulled "
                             f"(no registry reachable?); {hint}") from None
        image = client.images.get(plan.base_image)
    attrs: dict[str, Any] = image.attrs
    if plan.platform:
        arch = f"{attrs.get('Os', 'linux')}/{attrs.get('Architecture', '')}"
        if arch != plan.platform:
            raise BuildError(f"base image {plan.base_image} is {arch}, not {plan.platform}; build a base for that "
                             f"platform (shipyard base-image build --platform {plan.platform})")
    python = _image_python(attrs)
    if python and not plan.python_version:
        check_python_supported(python, entry=f"base image {plan.base_image} (Python {python})", file=None,
                               field="base_image", line=None)
    if plan.python_version and python and python != plan.python_version:
        raise SpecError(f"base image {plan.base_image} has Python {python}, but the environment asks for "
                        f"{plan.python_version}; use a base image with Python {plan.python_version} or change "
                        "the python version", field="python")


def _image_python(attrs: dict[str, Any]) -> str | None:
    """Python major.minor of an image, from Shipyard's base label or the official images' PYTHON_VERSION."""
    config = attrs.get("Config") or {}
    label = (config.get("Labels") or {}).get(BASE_PYTHON_LABEL)
    if label:
        return str(label)
    for entry in config.get("Env") or []:
        if entry.startswith("PYTHON_VERSION="):
            return ".".join(entry.split("=", 1)[1].split(".")[:2])
    return None


def _try_pull(client: docker.DockerClient, reference: str, platform: str | None) -> bool:
    try:
        client.images.pull(reference, platform=platform)
    except DockerException as exc:
        logger.debug("pulling %s failed: %s", reference, exc)
        return False
    return True


def _proxy_args() -> dict[str, str]:
    """Proxy settings from the environment, as Docker's predefined (not persisted) build args."""
    return {name: os.environ[name] for name in _PROXY_VARIABLES if os.environ.get(name)}
