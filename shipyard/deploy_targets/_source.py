"""What ``shipyard deploy SOURCE`` deploys: an image reference as is, or a spec built first.

A SOURCE that names an existing file or folder is a deployment spec (``shipyard.yaml`` or the
folder holding it); it is built with the builder's Python API on the engine the target uses, and
the resulting tag (``<name>:<version>`` from the spec) is deployed. Anything else is an image
reference the target must already have or be able to pull.
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def is_spec(source: str | Path) -> bool:
    """Whether ``source`` names a spec on disk rather than an image."""
    return Path(source).exists()


def resolve_image(source: str | Path, *, docker_host: str | None = None) -> str:
    """The image to deploy for ``source``, building the spec first when it is one.

    Args:
        source: an image reference (``iris:1``) or a spec path (``examples/iris``).
        docker_host: engine to build on (the one the target deploys to), default $DOCKER_HOST.

    Raises:
        SpecError: the spec is invalid (from the builder).
        BuildError: the image did not build (from the builder).
    """
    if not is_spec(source):
        return str(source)
    from shipyard.builder import build_image, load_spec
    from shipyard.deploy_targets._docker import connect

    spec = load_spec(source)
    tag = f"{spec.name}:{spec.version}"
    logger.info("building %s as %s before deploying it", source, tag)
    return build_image(spec, tag, client=connect(docker_host)).tag
