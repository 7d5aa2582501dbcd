"""From a deployment spec to a Docker image: the builder's public API.

Low level (no Docker involved): :func:`load_spec` validates ``shipyard.yaml``, :func:`plan_build`
makes every decision, :func:`render_dockerfile` writes the Dockerfile text and
:func:`build_context` / :func:`export_context` assemble the files it copies. High level (Docker
SDK): :func:`build_image` (which ends with :func:`check_image`), :func:`push_image` and
:func:`build_base_image`.

Names are imported lazily, so ``import shipyard.builder`` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DeploymentSpec": "spec", "load_spec": "spec", "parse_spec": "spec", "spec_json_schema": "spec",
    "BuildPlan": "plan", "plan_build": "plan",
    "render_dockerfile": "render",
    "BuildContext": "context", "build_context": "context", "export_context": "context",
    "BuildEvent": "progress",
    "BuildResult": "build", "build_image": "build", "check_image": "build", "push_image": "build",
    "BaseImage": "base_image", "build_base_image": "base_image",
}

__all__ = [
    "BaseImage", "BuildContext", "BuildEvent", "BuildPlan", "BuildResult", "DeploymentSpec", "build_base_image",
    "build_context", "build_image", "check_image", "export_context", "load_spec", "parse_spec", "plan_build", "push_image",
    "render_dockerfile", "spec_json_schema",
]

if TYPE_CHECKING:
    from shipyard.builder.base_image import BaseImage, build_base_image
    from shipyard.builder.build import BuildResult, build_image, check_image, push_image
    from shipyard.builder.context import BuildContext, build_context, export_context
    from shipyard.builder.plan import BuildPlan, plan_build
    from shipyard.builder.progress import BuildEvent
    from shipyard.builder.render import render_dockerfile
    from shipyard.builder.spec import DeploymentSpec, load_spec, parse_spec, spec_json_schema


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.builder' has no attribute '{name}'")
    return getattr(importlib.import_module(f"shipyard.builder.{module}"), name)
