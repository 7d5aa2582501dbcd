"""What an import produces before anything is written: the spec, the deploy settings, the files.

Importers fill one :class:`ImportPlan`; :func:`write_plan` then copies the sources into the output
folder (a spec's paths may not leave its folder, so ``score.py``, the conda file and the model
travel with it) and writes ``shipyard.yaml`` and ``deployment.yaml``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import SpecError

SPEC_FILE = "shipyard.yaml"
DEPLOYMENT_FILE = "deployment.yaml"
_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ImportPlan:
    """The spec and deploy settings being assembled, and the files they need."""

    spec: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    copies: dict[str, Path] = field(default_factory=dict)
    """Destination (relative to the output folder) -> source file or folder."""
    texts: dict[str, str] = field(default_factory=dict)
    """Destination -> generated file content (a conda file from inline JSON, a Dockerfile template)."""
    notes: list[str] = field(default_factory=list)
    """Decisions the report's rows cannot show (a default taken from Azure rather than from a field)."""
    name: str | None = None
    name_hint: str | None = None
    """A name the sources suggest (a v2 endpoint's); ``--name`` wins over it."""
    model_paths: list[Path] = field(default_factory=list)
    """Model files or folders the sources name (copied to models/)."""
    model_refs: list[str] = field(default_factory=list)
    """Registry references the sources name (``azureml:NAME:VERSION``)."""

    def copy(self, source: Path, destination: str) -> str:
        """Plan to copy *source* to *destination*; returns the destination for the spec."""
        previous = self.copies.get(destination)
        if previous is not None and previous.resolve() != source.resolve():
            raise SpecError(f"two different sources would land in '{destination}': {previous} and {source}")
        self.copies[destination] = source
        return destination

    def env(self, key: str, value: str) -> str:
        """Plan a deployment environment variable; returns where it went, for the report."""
        self.options.setdefault("env", {})[key] = value
        return f"deployment.yaml: options.env.{key}"


def safe_name(text: str) -> str:
    """A spec/deployment name from free text: letters, digits, '.', '_', '-' (at most 32)."""
    cleaned = _NAME_RE.sub("-", text).strip("-._").lower()[:32].strip("-._")
    return cleaned or "imported"


def write_plan(plan: ImportPlan, output: Path) -> list[Path]:
    """Copy the planned files into *output* and write ``shipyard.yaml`` and ``deployment.yaml``."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for destination, source in plan.copies.items():
        target = output / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            if target.exists():
                shutil.rmtree(target)
            skip = output.resolve()  # the output folder may lie inside the source folder
            shutil.copytree(source, target, ignore=lambda folder, names: [
                n for n in names if (Path(folder) / n).resolve() == skip or n == "__pycache__"])
        else:
            shutil.copy2(source, target)
        written.append(target)
    for destination, text in plan.texts.items():
        target = output / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    spec_path = output / SPEC_FILE
    spec_path.write_text("# Written by 'shipyard import'; see docs/migrating.md.\n"
                         + yaml.safe_dump(plan.spec, sort_keys=False))
    deployment = {"name": plan.name, "target": plan.target or "container"}
    if plan.settings:
        deployment["settings"] = plan.settings
    deployment["options"] = plan.options
    deployment_path = output / DEPLOYMENT_FILE
    deployment_path.write_text("# Written by 'shipyard import'; read by 'shipyard deploy --config'.\n"
                               + yaml.safe_dump(deployment, sort_keys=False))
    deployment_path.chmod(0o600)  # it may hold the service's keys
    return written + [spec_path, deployment_path]
