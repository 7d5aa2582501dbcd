"""Which deploy targets exist, resolved lazily from import strings.

Built-in targets are an explicit name -> ``"module:Class"`` table; third-party packages add
theirs through the ``shipyard.deploy_targets`` entry-point group (or :func:`register_target` at
run time). Nothing is imported until a target is asked for, so ``shipyard --help`` stays fast
and a target's heavy client (``kubernetes``) is only loaded when used.

A third-party package registers a target in its ``pyproject.toml``::

    [project.entry-points."shipyard.deploy_targets"]
    nomad = "shipyard_nomad.target:NomadTarget"
"""

from __future__ import annotations

import difflib
import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

from shipyard.deploy_targets.base import DeployTarget
from shipyard.deploy_targets.options import parse_model
from shipyard.errors import DeployError, SpecError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "shipyard.deploy_targets"

_BUILTIN: dict[str, str] = {
    "container": "shipyard.deploy_targets.container:ContainerTarget",
    "kubernetes": "shipyard.deploy_targets.kubernetes:KubernetesTarget",
    "edge": "shipyard.deploy_targets.edge:EdgeTarget",
}
_registered: dict[str, str] = {}
ALIASES: dict[str, str] = {"k8s": "kubernetes"}
"""Other names a target answers to (``--target k8s``), as kubectl users write it."""


def register_target(name: str, import_string: str) -> None:
    """Make ``name`` resolve to ``import_string`` (``"package.module:Class"``) from now on."""
    if ":" not in import_string:
        raise ValueError(f"import string {import_string!r} must look like 'package.module:Class'")
    _registered[name] = import_string


def _table() -> dict[str, str]:
    table = dict(_BUILTIN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(entry.name, entry.value)
    table.update(_registered)
    return table


def target_names() -> list[str]:
    """Every target name that can be resolved, built-in first."""
    table = _table()
    return [*_BUILTIN, *sorted(set(table) - set(_BUILTIN))]


def load_target_class(name: str) -> type[DeployTarget]:
    """Import the class behind ``name``.

    Raises:
        SpecError: no target has that name (the message lists the ones that do).
        DeployError: the target's module or class cannot be imported.
    """
    table = _table()
    name = ALIASES.get(name, name) if name not in table else name
    if name not in table:
        close = difflib.get_close_matches(name.lower(), [*table, *ALIASES], n=1, cutoff=0.6)
        hint = f"did you mean {ALIASES.get(close[0], close[0])!r}? " if close else ""
        raise SpecError(f"unknown deploy target {name!r}; {hint}available: {', '.join(target_names())} "
                        f"({', '.join(f'{alias} = {real}' for alias, real in ALIASES.items())})", field="target")
    module_name, _, attr = table[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DeployError(f"deploy target {name!r} could not be loaded from {table[name]!r}: {exc}. "
                          "Is the package that provides it installed?") from exc
    try:
        cls = getattr(module, attr)
    except AttributeError:
        raise DeployError(f"deploy target {name!r}: module {module_name!r} has no {attr!r}") from None
    return cls


def get_target(name: str, **settings: Any) -> DeployTarget:
    """Build target ``name`` with connection ``settings`` (e.g. ``docker_host=``, ``namespace=``).

    Settings not given come from the environment (``DOCKER_HOST``, ``KUBECONFIG``...) through the
    target's ``settings_model``.
    """
    cls = load_target_class(name)
    given = {key: value for key, value in settings.items() if value is not None}
    return cls(parse_model(cls.settings_model, given, what=f"settings for target {name!r}"))
