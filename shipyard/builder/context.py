"""The build context: the Dockerfile plus every file it copies, as a folder or a tar stream.

No Docker here either: :func:`build_context` lists what goes where, :meth:`BuildContext.write_tar`
packs it for the Docker Engine and :func:`export_context` writes it to a folder for BuildKit,
kaniko or a review. Layout (mirrors the Dockerfile's ``COPY`` lines)::

    Dockerfile
    .shipyard/build/pip.conf, extra-ca.pem   builder stage only (index settings, extra CA)
    .shipyard/requirements.txt               the model's dependencies, in pip terms
    .shipyard/runtime-requirements.txt       the runtime's dependencies
    .shipyard/wheels/                        local wheels the environment names
    .shipyard/runtime/shipyard-*.whl         Shipyard itself, from this installation
    model/                                   the model files and folders (model/<name>/<version>/...
                                             when the spec has several models)
    app/                                     score.py (or the whole source_dir)

Entries carry fixed owners, modes and timestamps so that the same inputs give the same context,
and Docker's layer cache only misses where content really changed.
"""

from __future__ import annotations

import io
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from shipyard.builder.plan import BuildPlan, model_entries_in_context, plan_build
from shipyard.builder.render import render_dockerfile
from shipyard.builder.spec import DeploymentSpec
from shipyard.builder.wheel import build_runtime_wheel, load_wheel
from shipyard.errors import BuildError

logger = logging.getLogger(__name__)

_MTIME = 315532800  # 1980-01-01: fixed, so identical inputs give identical contexts
_SKIPPED_NAMES = {"__pycache__", ".git", ".shipyard", ".ipynb_checkpoints", ".DS_Store"}


@dataclass
class BuildContext:
    """A Dockerfile and the files beside it, keyed by their path in the context."""

    plan: BuildPlan
    dockerfile: str
    files: dict[str, bytes | Path] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)

    def add_bytes(self, name: str, data: bytes | str) -> None:
        """Put generated content at *name*."""
        self.files[name] = data.encode() if isinstance(data, str) else data

    def add_path(self, name: str, source: Path) -> None:
        """Put a file, or a folder's files recursively, at *name*."""
        if source.is_dir():
            self.directories.add(name)
            for child in sorted(source.iterdir()):
                if child.name not in _SKIPPED_NAMES and not child.name.endswith(".pyc"):
                    self.add_path(f"{name}/{child.name}", child)
        else:
            self.files[name] = source

    def write_tar(self, fileobj: IO[bytes]) -> None:
        """Write the context as an uncompressed tar, the form the Docker Engine reads."""
        with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for name in sorted(self.directories):
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _MTIME
                archive.addfile(info)
            for name in sorted(self.files):
                content = self.files[name]
                info = tarfile.TarInfo(name)
                info.mtime = _MTIME
                if isinstance(content, bytes):
                    info.mode, info.size = 0o644, len(content)
                    archive.addfile(info, io.BytesIO(content))
                else:
                    info.mode = 0o755 if content.stat().st_mode & 0o111 else 0o644
                    info.size = content.stat().st_size
                    with content.open("rb") as handle:
                        archive.addfile(info, handle)
        fileobj.seek(0)

    def tar(self) -> IO[bytes]:
        """The context as a tar in a temporary file (spills to disk for large models)."""
        spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115 - the caller closes it
        self.write_tar(spool)
        return spool

    def write_to(self, directory: Path) -> Path:
        """Write the context into *directory* (created; must be empty or missing)."""
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise BuildError(f"export folder {directory} is not empty; pick a new folder or empty it first")
        for name in sorted(self.directories):
            (directory / name).mkdir(parents=True, exist_ok=True)
        for name, content in sorted(self.files.items()):
            target = directory / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                shutil.copyfile(content, target)
            target.chmod(0o755 if not isinstance(content, bytes) and content.stat().st_mode & 0o111 else 0o644)
        return directory


def build_context(spec_or_plan: DeploymentSpec | BuildPlan, *, base_image: str | None = None,
                  platform: str | None = None, extra_ca: Path | None = None,
                  runtime_wheel: Path | None = None) -> BuildContext:
    """Assemble the Dockerfile and every file it copies.

    Args:
        spec_or_plan: a validated spec (planned here with the options below) or a ready plan.
        base_image, platform, extra_ca: as for :func:`shipyard.builder.plan.plan_build`.
        runtime_wheel: a Shipyard wheel file to install instead of one packed from this installation
            (a released wheel, or one kept fixed across several builds).

    Raises:
        SpecError: from planning, when the spec or environment is invalid.
    """
    plan = spec_or_plan if isinstance(spec_or_plan, BuildPlan) else plan_build(
        spec_or_plan, base_image=base_image, platform=platform, extra_ca=extra_ca)
    wheel = load_wheel(runtime_wheel) if runtime_wheel is not None else build_runtime_wheel()
    context = BuildContext(plan=plan, dockerfile=render_dockerfile(plan, wheel_filename=wheel.filename))
    context.add_bytes("Dockerfile", context.dockerfile)
    context.add_bytes(".shipyard/build/pip.conf", _pip_conf(plan))
    if plan.extra_ca is not None:
        context.add_path(".shipyard/build/extra-ca.pem", plan.extra_ca)
    context.add_bytes(".shipyard/requirements.txt", _lines(plan.environment.requirements))
    context.add_bytes(".shipyard/runtime-requirements.txt", _lines(plan.runtime_requirements))
    context.directories.add(".shipyard/wheels")
    for local in plan.environment.local_files:
        context.add_path(f".shipyard/wheels/{local.name}", local)
    context.add_bytes(f".shipyard/runtime/{wheel.filename}", wheel.data)
    context.directories.update({"model", "app"})
    for name, model in model_entries_in_context(plan.spec):
        parents = name.split("/")[:-1]  # <name>/<version> folders of a multi-model layout
        context.directories.update("/".join(["model", *parents[:depth]]) for depth in range(1, len(parents) + 1))
        context.add_path(f"model/{name}", model)
    spec = plan.spec
    if spec.source_dir is not None:
        for child in sorted(spec.source_dir.iterdir()):
            if child.name not in _SKIPPED_NAMES:
                context.add_path(f"app/{child.name}", child)
    elif spec.entry_script is not None:
        context.add_path(f"app/{spec.entry_script.name}", spec.entry_script)
    return context


def export_context(spec: DeploymentSpec, directory: str | Path, **options: object) -> Path:
    """Write the Dockerfile and its context to *directory* without building.

    The folder builds as is with ``docker build``, ``docker buildx build`` or kaniko.
    """
    context = build_context(spec, **options)  # type: ignore[arg-type]
    return context.write_to(Path(directory))


def _pip_conf(plan: BuildPlan) -> str:
    pip = plan.spec.build.pip
    lines = ["# pip settings for the builder stage only (generated by Shipyard)", "[global]"]
    if pip.index_url:
        lines.append(f"index-url = {pip.index_url}")
    if pip.extra_index_urls:
        lines.append(f"extra-index-url = {' '.join(pip.extra_index_urls)}")
    if pip.trusted_hosts:
        lines.append(f"trusted-host = {' '.join(pip.trusted_hosts)}")
    return "\n".join(lines) + "\n"


def _lines(items: list[str]) -> str:
    return "".join(f"{item}\n" for item in items)
