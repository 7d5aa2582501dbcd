"""From a build plan to Dockerfile text. Talks to nothing: no Docker, no network.

Templates are package data (``shipyard/templates/*.j2``). One sandboxed Jinja environment is
built once, with ``StrictUndefined`` (a missing variable fails the render instead of leaving a
hole in the Dockerfile) and quoting filters that every user-supplied value goes through:

- ``shell_quote``: for words in ``RUN`` lines (POSIX shell quoting);
- ``docker_quote``: for ``ENV``/``LABEL`` values (double quotes; ``\\``, ``"`` and ``$`` escaped so
  Docker neither splits nor expands them);
- ``json``: for exec-form arrays (``CMD``, ``HEALTHCHECK``).

The template variables are the fields of :class:`DockerfileContext`, one plain model.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from functools import cache

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, model_validator

from shipyard.builder._fields import single_line

from shipyard.builder.plan import APP_ROOT, APP_UID, RUNTIME_SITE, VENV, BuildPlan, plan_build
from shipyard.builder.spec import DeploymentSpec
from shipyard.builder.wheel import runtime_wheel_filename
from shipyard.errors import SpecError


class DockerfileContext(BaseModel):
    """Everything a Dockerfile template may use. Values are already validated."""

    model_config = ConfigDict(frozen=True)

    shipyard_version: str
    spec_file: str
    base_image: str
    python_version: str | None
    cuda_version: str | None
    build_system_packages: list[str]
    system_packages: list[str]
    extra_ca: bool
    venv: str
    runtime_site: str
    wheel_filename: str
    app_root: str
    model_dir: str
    uid: int
    port: int
    grpc_port: int | None
    runtime_env: dict[str, str]
    env: dict[str, str]
    labels: dict[str, str]
    healthcheck: list[str]

    @model_validator(mode="after")
    def _one_line_each(self) -> DockerfileContext:
        """The one gate every value passes on its way into the Dockerfile: no line breaks, anywhere.

        Spec fields are checked when the spec is read, environment variables when the environment
        is; this catches what neither sees (the spec's own file name, which the header comment
        shows) and anything a future field forgets, whatever the template does with it.
        """
        for name, value in self:
            for text in _strings(value):
                try:
                    single_line(text, f"the Dockerfile's {name}")
                except ValueError as exc:
                    raise SpecError(str(exc), field=name,
                                    file=self.spec_file if name != "spec_file" else None) from None
        return self

    @classmethod
    def from_plan(cls, plan: BuildPlan, *, wheel_filename: str) -> DockerfileContext:
        """The template variables for *plan*."""
        spec = plan.spec
        return cls(
            shipyard_version=plan.shipyard_version,
            spec_file=spec.file.name if spec.file else "a deployment spec",
            base_image=plan.base_image,
            python_version=plan.python_version,
            cuda_version=spec.gpu.cuda if spec.gpu else None,
            build_system_packages=plan.build_system_packages,
            system_packages=plan.system_packages,
            extra_ca=plan.extra_ca is not None,
            venv=str(VENV), runtime_site=str(RUNTIME_SITE), wheel_filename=wheel_filename,
            app_root=str(APP_ROOT), model_dir=str(plan.model_dir), uid=APP_UID, port=spec.port, grpc_port=spec.grpc_port,
            runtime_env=plan.runtime_env, env=plan.env, labels=plan.labels,
            healthcheck=["python", "-c", _LIVENESS_PROBE],
        )


# Liveness (GET /), on the port the runtime was started with; urllib keeps the probe dependency-free.
_LIVENESS_PROBE = ("import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % "
                   "os.environ.get('SHIPYARD_PORT', '5001'), timeout=4)")


def shell_quote(value: object) -> str:
    """Quote one word for a POSIX shell (``RUN`` lines)."""
    return shlex.quote(str(value))


def docker_quote(value: object) -> str:
    """Quote a value for ``ENV``/``LABEL``: Docker must neither split it nor expand ``$VAR`` in it."""
    text = str(value)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ValueError(f"control characters cannot be written into a Dockerfile: {text!r}")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def to_json(value: object) -> str:
    """Exec-form JSON (``CMD [...]``), without HTML escaping."""
    return json.dumps(value, ensure_ascii=False)


@cache
def template_environment() -> SandboxedEnvironment:
    """The one Jinja environment for Shipyard's templates, built on first use."""
    environment = SandboxedEnvironment(
        loader=PackageLoader("shipyard", "templates"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters.update(shell_quote=shell_quote, docker_quote=docker_quote, json=to_json)
    return environment


def render_dockerfile(plan: BuildPlan | DeploymentSpec, *, wheel_filename: str | None = None,
                      template: str | None = None) -> str:
    """Render the Dockerfile for *plan* (a spec is planned with default options first).

    Args:
        plan: the build plan, or a spec to plan.
        wheel_filename: name of Shipyard's runtime wheel in the context (default: this version's).
        template: a template name to use instead of the plan's (for variants that extend the base).
    """
    if isinstance(plan, DeploymentSpec):
        plan = plan_build(plan)
    context = DockerfileContext.from_plan(plan, wheel_filename=wheel_filename or runtime_wheel_filename())
    environment = template_environment()
    user_template = plan.spec.build.dockerfile_template
    if user_template is not None and template is None:
        # The user's folder first, Shipyard's templates behind it: {% extends "base.Dockerfile.j2" %} works.
        environment = environment.overlay(loader=ChoiceLoader([FileSystemLoader(user_template.parent),
                                                               environment.loader]))
        template = user_template.name
    return environment.get_template(template or plan.template).render(**context.model_dump())


def _strings(value: object) -> Iterator[str]:
    """Every string in *value*, however deeply nested in lists, tuples and dicts (keys included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
