"""Deploy targets: put a built image somewhere it serves, and manage it there.

The functions below are the public API (the ``shipyard deploy|status|logs|delete|list|invoke``
commands call them one to one). Targets live one per module (``container``, ``kubernetes``) and
are loaded by name only when used; see :mod:`shipyard.deploy_targets.registry` to add one.
"""

from shipyard.deploy_targets.api import delete, deploy, invoke, list_deployments, logs, render, status
from shipyard.deploy_targets.base import Deployment, DeploymentKeys, DeployTarget, RenderedFiles
from shipyard.deploy_targets.options import DeployOptions, GpuRequest, TargetSettings
from shipyard.deploy_targets.registry import get_target, register_target, target_names

__all__ = [
    "DeployOptions", "DeployTarget", "Deployment", "DeploymentKeys", "GpuRequest", "RenderedFiles",
    "TargetSettings", "delete", "deploy", "get_target", "invoke", "list_deployments", "logs",
    "register_target", "render", "status", "target_names",
]
