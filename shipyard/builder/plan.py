"""Every decision about an image, made once from the spec, before anything is rendered or built.

:func:`plan_build` reads the environment, picks the base image and Python version, fixes the
image layout and computes the labels (including the model's SHA-256). The renderer and the
context writer only read the plan, so they agree by construction, and all input errors surface
here, before Docker is involved.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import TypeAdapter, ValidationError

import shipyard
from shipyard.builder._fields import ImageRef, single_line
from shipyard.builder.environment import ResolvedEnvironment, load_environment
from shipyard.builder.spec import DeploymentSpec
from shipyard.builder.support import (
    CudaBase,
    check_platform,
    check_python_supported,
    cuda_base,
    default_base_image,
    runtime_requirements,
)
from shipyard.errors import SpecError

logger = logging.getLogger(__name__)

APP_ROOT = PurePosixPath("/var/azureml-app")  # Azure ML's app root: scripts with hard-coded paths keep working
MODELS_FOLDER = "azureml-models"  # Azure ML's: Model.get_model_path looks in $AML_APP_ROOT/azureml-models
VENV = PurePosixPath("/opt/venv")
RUNTIME_SITE = PurePosixPath("/opt/shipyard/site")
APP_UID = 10001  # numeric, so Kubernetes' runAsNonRoot can verify it

LABEL_PREFIX = "dev.shipyard."
#: Label on base images made by ``shipyard base-image build``: the Python major.minor inside.
BASE_PYTHON_LABEL = "dev.shipyard.base.python"


@dataclass
class BuildPlan:
    """What to build, fully decided. Read by the renderer and the context writer."""

    spec: DeploymentSpec
    environment: ResolvedEnvironment
    base_image: str
    python_version: str | None
    cuda: CudaBase | None
    platform: str | None
    runtime_requirements: list[str]
    system_packages: list[str]
    build_system_packages: list[str]
    env: dict[str, str]
    labels: dict[str, str]
    model_sha256: str
    model_dir: PurePosixPath
    entry_script: PurePosixPath | None
    extra_ca: Path | None
    shipyard_version: str = field(default=shipyard.__version__)

    @property
    def template(self) -> str:
        """Template file for this image: the CUDA variant or the plain one."""
        return "cuda.Dockerfile.j2" if self.cuda is not None or self.spec.gpu else "cpu.Dockerfile.j2"

    @property
    def runtime_env(self) -> dict[str, str]:
        """The runtime settings baked into the image (see shipyard.runtime.settings)."""
        env = {
            "SHIPYARD_APP_ROOT": str(APP_ROOT),
            "SHIPYARD_MODEL_DIR": str(self.model_dir),
            "SHIPYARD_MODEL_NAME": self.spec.name,
            "SHIPYARD_MODEL_VERSION": self.spec.version,
            "SHIPYARD_PORT": str(self.spec.port),
        }
        if self.spec.grpc_port is not None:
            env["SHIPYARD_GRPC_PORT"] = str(self.spec.grpc_port)
        if self.entry_script is not None:
            env["SHIPYARD_ENTRY_SCRIPT"] = str(self.entry_script)
        if self.spec.execution_providers:
            env["SHIPYARD_EXECUTION_PROVIDERS"] = ",".join(self.spec.execution_providers)
        if self.spec.strict_providers:
            env["SHIPYARD_STRICT_PROVIDERS"] = "true"
        batching = self.spec.batching
        if batching is not None:
            env["SHIPYARD_MAX_BATCH_SIZE"] = str(batching.max_batch_size)
            env["SHIPYARD_MAX_QUEUE_DELAY_US"] = str(batching.max_queue_delay_microseconds)
            if batching.preferred_batch_sizes:
                env["SHIPYARD_PREFERRED_BATCH_SIZES"] = ",".join(map(str, batching.preferred_batch_sizes))
        return env


def plan_build(spec: DeploymentSpec, *, base_image: str | None = None, platform: str | None = None,
               extra_ca: Path | None = None) -> BuildPlan:
    """Decide everything about the image for *spec*.

    Args:
        spec: a validated deployment spec.
        base_image: overrides ``spec.base_image`` (``--base-image``).
        platform: ``linux/amd64`` or ``linux/arm64``; None builds for the engine's own.
        extra_ca: overrides ``spec.build.ca_bundle`` (``--extra-ca``).

    Raises:
        SpecError: the environment cannot be installed, or the Python versions disagree.
    """
    check_platform(platform)
    _check_model_names(spec)
    env_file = str(spec.environment) if spec.environment else None
    environment = load_environment(spec.environment, gpu=spec.gpu is not None, root=spec.root)
    python = _python_version(spec, environment, env_file)
    cuda = cuda_base(spec.gpu.cuda) if spec.gpu else None
    chosen_base = base_image or spec.base_image
    if chosen_base is None and cuda is not None:
        if python and python != cuda.python:
            raise SpecError(f"the default CUDA {cuda.cuda} base {cuda.image} ships Python {cuda.python}, but the "
                            f"environment asks for {python}; use python={cuda.python} or name a CUDA base image "
                            f"with Python {python} in base_image", file=_file(spec), field="gpu.cuda")
        chosen_base = cuda.image
    elif chosen_base is None:
        chosen_base = default_base_image(python)
    if base_image is not None:
        _validate_image_ref(base_image)
    if extra_ca is not None and not Path(extra_ca).is_file():
        raise SpecError(f"extra CA bundle '{extra_ca}' does not exist", field="build.ca_bundle")

    onnx = spec.serves_onnx_directly and "onnxruntime" not in environment.requirement_names() \
        and "onnxruntime-gpu" not in environment.requirement_names()
    plan = BuildPlan(
        spec=spec, environment=environment, base_image=chosen_base, python_version=python, cuda=cuda,
        platform=platform,
        runtime_requirements=runtime_requirements(onnx=onnx, gpu=spec.gpu is not None),
        system_packages=_unique(spec.system_packages + environment.system_packages),
        build_system_packages=_unique(spec.build.system_packages + environment.build_system_packages),
        env={**environment.env, **spec.env},
        labels={}, model_sha256=model_sha256(spec.model_paths),
        model_dir=model_dir_in_image(spec),
        entry_script=_entry_in_image(spec),
        extra_ca=Path(extra_ca).resolve() if extra_ca else spec.build.ca_bundle,
    )
    plan.labels = _labels(plan)
    return plan


def model_sha256(paths: list[Path]) -> str:
    """One SHA-256 over every model file (relative name and content), in a stable order."""
    digest = hashlib.sha256()
    for top in paths:
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            name = path.relative_to(top.parent).as_posix()
            digest.update(name.encode() + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


def model_dir_in_image(spec: DeploymentSpec) -> PurePosixPath:
    """Where the models land and what AZUREML_MODEL_DIR says, as Azure ML laid out a v1 service.

    One model: ``azureml-models/<name>/<version>``; several: ``azureml-models`` (each model in its
    ``<name>/<version>/`` below it). The build context's ``model/`` folder is copied there.
    """
    models = APP_ROOT / MODELS_FOLDER
    groups = spec.model_groups
    if len(groups) == 1:
        ((name, version),) = groups
        return models / name / version
    return models


def model_entries_in_context(spec: DeploymentSpec) -> list[tuple[str, Path]]:
    """``(path below model/ in the build context, source)`` for every model file or folder."""
    groups = spec.model_groups
    several = len(groups) > 1
    return [(f"{name}/{version}/{path.name}" if several else path.name, path)
            for (name, version), paths in groups.items() for path in paths]


def _check_model_names(spec: DeploymentSpec) -> None:
    seen: dict[tuple[str, str, str], int] = {}
    index_of = {id(path): index for index, path in enumerate(spec.model_paths)}
    for (name, version), paths in spec.model_groups.items():
        for path in paths:
            index = index_of[id(path)]
            key = (name, version, path.name)
            if key in seen:
                other = spec.model_paths[seen[key]]
                raise SpecError(f"{path} and {other} would both land in azureml-models/{name}/{version}/ as "
                                f"'{path.name}'; rename one, put them in one folder, or give one its own "
                                "{name, version}", file=_file(spec), field=f"models.{index}",
                                line=spec.line_of("models", index))
            seen[key] = index


def _python_version(spec: DeploymentSpec, environment: ResolvedEnvironment, env_file: str | None) -> str | None:
    if spec.python and environment.python_version and spec.python != environment.python_version:
        raise SpecError(f"python: {spec.python} disagrees with python={environment.python_version} in {env_file}; "
                        "keep one of them", file=_file(spec), field="python")
    if spec.python:
        check_python_supported(spec.python, entry=f"python: {spec.python}", file=_file(spec), field="python",
                               line=spec.line_of("python"))
    elif environment.python_version and environment.python_origin:
        file, field, entry, line = environment.python_origin
        check_python_supported(environment.python_version, entry=entry, file=file, field=field, line=line)
    return spec.python or environment.python_version


def _entry_in_image(spec: DeploymentSpec) -> PurePosixPath | None:
    if spec.entry_script is None:
        return None
    relative = spec.entry_script.relative_to(spec.source_dir) if spec.source_dir else Path(spec.entry_script.name)
    try:
        single_line(relative.as_posix(), "the entry script's path")
    except ValueError as exc:
        raise SpecError(str(exc), file=_file(spec), field="entry_script") from None
    return APP_ROOT / PurePosixPath(relative.as_posix())


def _labels(plan: BuildPlan) -> dict[str, str]:
    spec = plan.spec
    labels = {
        "org.opencontainers.image.title": spec.name,
        "org.opencontainers.image.version": spec.version,
        "org.opencontainers.image.description": f"Shipyard scoring service for model {spec.name} version {spec.version}",
        "org.opencontainers.image.base.name": plan.base_image,
        f"{LABEL_PREFIX}version": plan.shipyard_version,
        f"{LABEL_PREFIX}spec.name": spec.name,
        f"{LABEL_PREFIX}model.name": spec.name,
        f"{LABEL_PREFIX}model.version": spec.version,
        f"{LABEL_PREFIX}model.sha256": plan.model_sha256,
        f"{LABEL_PREFIX}port": str(spec.port),
    }
    if spec.grpc_port is not None:
        labels[f"{LABEL_PREFIX}grpc-port"] = str(spec.grpc_port)
    if plan.python_version:
        labels[f"{LABEL_PREFIX}python.version"] = plan.python_version
    if spec.gpu:
        labels[f"{LABEL_PREFIX}gpu.cuda"] = spec.gpu.cuda
    labels.update(spec.labels)  # users may set the OCI labels (source, authors...) themselves
    return labels


def _validate_image_ref(value: str) -> None:
    """Check a ``--base-image`` value with the same grammar as the spec's ``base_image``."""
    try:
        TypeAdapter(ImageRef).validate_python(value)
    except ValidationError as exc:
        raise SpecError(exc.errors()[0]["msg"].removeprefix("Value error, "), field="base_image") from None


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _file(spec: DeploymentSpec) -> str | None:
    return str(spec.file) if spec.file else None
