"""What the importer tests check an import's output with: the report's coverage and the manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shipyard.deploy_targets._keys import resolve_keys
from shipyard.deploy_targets.config_file import load_deployment_config
from shipyard.deploy_targets.kubernetes_manifests import KubernetesOptions, render_manifests


def leaves(node: Any, prefix: str = "") -> list[str]:
    """Every field path of a JSON or YAML document, the way the report names them."""
    if not isinstance(node, dict) or not node:
        return [prefix]
    return [leaf for key, value in node.items() for leaf in leaves(value, f"{prefix}.{key}" if prefix else key)]


def assert_reports_every_field(report: Any, source: Path) -> None:
    """Each field of *source* (JSON or YAML) has a row: its own, or its section's when the section
    was answered whole."""
    fields = {row.field for row in report.rows if row.file == source.name}
    for leaf in leaves(yaml.safe_load(source.read_text())):
        parts = leaf.split(".")
        assert any(".".join(parts[:end]) in fields for end in range(1, len(parts) + 1)), (source.name, leaf)


def kubernetes_manifests(output: Path, image: str = "iris:1") -> dict[str, dict]:
    """The Kubernetes target's manifests for an import's ``deployment.yaml``, by kind."""
    config = load_deployment_config(output / "deployment.yaml")
    options = KubernetesOptions.model_validate(config.options)
    manifests = render_manifests(config.name, config.settings.get("namespace", "default"), image, options,
                                 resolve_keys(options, None), created="2026-01-01T00:00:00+00:00")
    return {manifest["kind"]: manifest for manifest in manifests}
