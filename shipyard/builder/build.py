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
import requests
from docker.errors import APIError, DockerException

from shipyard.image_tags import did_you_mean
from shipyard.builder._docker import docker_client
from shipyard.builder.context import build_context
from shipyard.builder.plan import BASE_PYTHON_LABEL, BuildPlan, plan_build
from shipyard.builder.progress import BuildEvent, BuildLog, StepRecord
from shipyard.builder.spec import DeploymentSpec
from shipyard.builder.support import MIN_PYTHON, check_python_supported
from shipyard.errors import BuildError, ImageCheckError, SpecError
from shipyard.runtime.check import OK_MARKER

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[BuildEvent], None]
#: The build-time check: load the model in the built image (shipyard/runtime/check.py).
CHECK_COMMAND = ("python", "-m", "shipyard.runtime.check")
CHECK_TIMEOUT_S = 600.0
CHECK_TAIL_LINES = 40
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
    check_log: list[str] = field(default_factory=list)
    """What the build-time check printed (empty with ``check=False``)."""

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
                runtime_wheel: Path | None = None, check: bool = True,
                check_timeout_s: float = CHECK_TIMEOUT_S) -> BuildResult:
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
        check: load the model in the built image before tagging it (import the entry script, run
            ``init()``; see :func:`check_image`). ``False`` is ``--no-check``.
        check_timeout_s: how long that check may take.

    Raises:
        SpecError: invalid spec, environment, or a base image with the wrong Python.
        DockerUnavailableError: no engine answers.
        BuildStepError: a step failed; names the step, its command, exit code and output tail.
        ImageCheckError: the image built, but the model did not load in it; carries the script's traceback.
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
            # Untagged until checked: a tag never points at an image whose model does not load.
            stream = client.api.build(
                fileobj=archive, custom_context=True, rm=True, forcerm=True, decode=True,
                nocache=no_cache, pull=pull, platform=platform, buildargs=_proxy_args())
            for record in stream:
                log.feed(record)
        except APIError as exc:
            raise BuildError(f"the Docker Engine refused the build: {exc.explanation or exc}") from exc
        except DockerException as exc:
            raise BuildError(f"the build stopped: {exc}") from exc
    image_id = log.image_id or client.images.get(log.built_id()).id
    check_log = check_image(image_id, plan, client=client, timeout_s=check_timeout_s, progress=progress) \
        if check else []
    repository, version = _split_tag(tag)
    client.api.tag(image_id, repository, version, force=True)
    result = BuildResult(tag=tag, image_id=image_id, steps=log.steps, duration_s=time.monotonic() - started,
                         dockerfile=context.dockerfile, plan=plan, log=log.lines, check_log=check_log)
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
    repository, version = _split_tag(tag)
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


def check_image(image: str, plan: BuildPlan, *, client: docker.DockerClient, timeout_s: float = CHECK_TIMEOUT_S,
                progress: ProgressCallback | None = None) -> list[str]:
    """Load the model in *image* as a worker would (import the entry script, run ``init()``), then stop.

    Runs ``python -m shipyard.runtime.check`` in a throw-away container from the built image, with
    the image's own user, settings and network, and no ports. It runs after the build rather than
    as a ``RUN`` step, so the image, its layers and its cache stay exactly what the Dockerfile
    makes (whatever ``init()`` writes is thrown away with the container).

    Returns:
        the lines the check printed.

    Raises:
        ImageCheckError: the model did not load (with the script's traceback), or the check timed out.
    """
    if progress is not None:
        progress(BuildEvent("check", text="check: importing the entry script and running init() in the image"))
    container = client.containers.create(image, list(CHECK_COMMAND), **(
        {"platform": plan.platform} if plan.platform else {}))
    status: int | None = None
    try:
        container.start()
        try:
            status = int(container.wait(timeout=timeout_s).get("StatusCode", 1))
        except requests.exceptions.RequestException:
            container.kill()
        lines = container.logs(stdout=True, stderr=True).decode(errors="replace").splitlines()
    finally:
        container.remove(force=True)
    for line in lines:
        if progress is not None:
            progress(BuildEvent("output", text=line))
    if status == 0 and any(line.startswith(OK_MARKER) for line in lines):
        return lines
    what = (f"did not finish within {timeout_s:.0f} s" if status is None
            else f"failed (exit status {status})")
    shown = "\n".join(f"  {line}" for line in lines[-CHECK_TAIL_LINES:])
    raise ImageCheckError(
        f"the image built, but loading the model in it {what}: python -m shipyard.runtime.check imports the "
        f"entry script and runs init() as a deployment would, and a deployment of this image would fail the "
        f"same way.\n{shown}\nFix the entry script or the environment (version pins) and build again; the "
        f"untagged image is {image[:19]} (docker run --rm -it --entrypoint sh {image[:19]}). --no-check "
        "(check=False) skips this check, e.g. when init() needs a GPU or a service the build host lacks.",
        image_id=image, log=lines, status=status)


def _split_tag(tag: str) -> tuple[str, str]:
    """``registry:5000/team/name:1`` -> (``registry:5000/team/name``, ``1``); no tag means ``latest``."""
    if ":" in tag.rsplit("/", 1)[-1]:
        repository, _, version = tag.rpartition(":")
        return repository, version
    return tag, "latest"


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
                             f"(no registry reachable?). {did_you_mean(client, plan.base_image)}To make one: {hint}") from None
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
                               field="base_image", line=None,
                               fix=f"build on a base image with Python {'.'.join(map(str, MIN_PYTHON))} or newer "
                                   "(--base-image; `shipyard base-image build --suite bookworm` makes one with Python "
                                   "3.11)")
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
