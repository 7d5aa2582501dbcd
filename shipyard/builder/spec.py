"""The deployment spec (``shipyard.yaml``): what to put in an image and how to build it.

One pydantic model is the single source of truth: it validates the YAML, documents every field
(``docs/building.md`` and the JSON Schema for editors come from it) and is what the renderer
reads. Paths are relative to the spec's folder and may not leave it, so a spec and its files can
be moved or checked in together. Validation happens entirely before any build: unknown fields,
missing files, escaping paths and values that could inject Dockerfile syntax are refused with
the file, the field, the line and the reason.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shipyard.builder._fields import (
    AptPackage,
    CudaVersion,
    HostName,
    ImageEnv,
    ImageRef,
    IndexUrl,
    LabelKey,
    Name,
    PlainText,
    Port,
    PythonVersion,
    Version,
)
from shipyard.builder._yaml import LineMap, load_yaml
from shipyard.errors import SpecError

logger = logging.getLogger(__name__)

DEFAULT_SPEC_NAME = "shipyard.yaml"
DEFAULT_PORT = 5001  # Azure ML's port; kept so clients and probes written for Azure still work
DEFAULT_GRPC_PORT = 8001  # Triton's gRPC port, where tritonclient.grpc users look first

#: Model files the runtime serves without an entry script (see shipyard.scoring.factory).
DIRECT_MODEL_SUFFIXES = (".onnx", ".pt", ".pt2")
ExecutionProvider = Literal["CUDA", "TensorRT", "OpenVINO", "ROCm", "MIGraphX", "VitisAI", "DirectML",
                            "CoreML", "CPU"]
RESERVED_LABEL_PREFIX = "dev.shipyard."


def _spec_path(kind: str):
    """A path relative to the spec's folder that must exist, be of *kind* and stay inside it."""

    def resolve(value: Path, info: ValidationInfo) -> Path:
        root = (info.context or {}).get("root")
        if root is None:
            return value
        root = Path(root).resolve()
        candidate = (root / value).resolve()
        if not candidate.is_relative_to(root):
            raise ValueError(f"'{value}' points outside the spec's folder {root}; "
                             "keep the files next to shipyard.yaml (or below it)")
        if not candidate.exists():
            raise ValueError(f"'{value}' does not exist (looked for {candidate})")
        if kind == "file" and not candidate.is_file():
            raise ValueError(f"'{value}' is not a file")
        if kind == "dir" and not candidate.is_dir():
            raise ValueError(f"'{value}' is not a folder")
        return candidate

    return AfterValidator(resolve)


SpecFile = Annotated[Path, _spec_path("file")]
SpecDir = Annotated[Path, _spec_path("dir")]
SpecFileOrDir = Annotated[Path, _spec_path("any")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipSettings(_Section):
    """Where pip looks for packages during the build (builder stage only; not in the image)."""

    index_url: IndexUrl | None = Field(default=None, description="Replaces PyPI (pip --index-url).")
    extra_index_urls: list[IndexUrl] = Field(default_factory=list,
                                             description="Searched besides the index (pip --extra-index-url).")
    trusted_hosts: list[HostName] = Field(default_factory=list,
                                          description="Hosts pip may reach without valid TLS (pip --trusted-host).")


class BuildSettings(_Section):
    """Settings that only affect the build; none of them reach the final image."""

    ca_bundle: SpecFile | None = Field(
        default=None, description="Extra PEM CA bundle trusted while installing packages (a TLS-intercepting "
                                  "proxy's CA). Used in the builder stage only.")
    pip: PipSettings = Field(default_factory=PipSettings, description="Package index settings.")
    system_packages: list[AptPackage] = Field(
        default_factory=list, description="Debian packages needed only to install the Python dependencies "
                                          "(compilers, headers); installed in the builder stage only.")
    dockerfile_template: SpecFile | None = Field(
        default=None, description="Your Jinja template extending 'base.Dockerfile.j2' (or 'cuda.Dockerfile.j2') "
                                  "and overriding its blocks: builder_steps, final_steps, system_packages.")


class GpuSettings(_Section):
    """Ask for a CUDA-capable image."""

    cuda: CudaVersion = Field(description="CUDA major.minor, e.g. '12.4'. Picks the default nvidia/cuda "
                                          "base unless base_image names one.")


class BatchingSettings(_Section):
    """Dynamic batching (Triton's ``dynamic_batching``): concurrent requests run as one model call.

    For .onnx/.pt/.pt2 models served directly, and score.py files that define ``run_batch()``.
    """

    max_batch_size: int = Field(ge=2, description="Most rows in one model call.")
    max_queue_delay_microseconds: int = Field(
        default=0, ge=0, description="How long a request may wait for a batch to fill before it runs anyway. "
                                     "0: a batch is what queued while the model was busy.")
    preferred_batch_sizes: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="Batch sizes (rows) that run as soon as they are reached, "
                                          "without waiting out the queue delay.")

    @model_validator(mode="after")
    def _preferred_within_maximum(self) -> BatchingSettings:
        too_big = [size for size in self.preferred_batch_sizes if size > self.max_batch_size]
        if too_big:
            raise ValueError(f"preferred_batch_sizes {too_big} exceed max_batch_size ({self.max_batch_size})")
        return self


class RegisteredModel(_Section):
    """A model as Azure ML registered it: lands in ``azureml-models/<name>/<version>/``.

    That is where ``Model.get_model_path(name, version)`` finds it in an SDK v1 scoring script, so a
    script written for a deployed service with several models runs unchanged.
    """

    name: Name = Field(description="The registered model name (Model.get_model_path's model_name).")
    version: int = Field(default=1, ge=1, description="The registered version, a whole number (Azure ML's).")
    path: SpecFileOrDir = Field(description="The model file or folder (relative to the spec). Omit it to take "
                                            "the model from the model registry ('shipyard model register'; "
                                            "without a version: the latest).")

    @model_validator(mode="before")
    @classmethod
    def _from_registry(cls, data: Any, info: ValidationInfo) -> Any:
        root = (info.context or {}).get("root")
        if not isinstance(data, dict) or "path" in data or root is None or not isinstance(data.get("name"), str):
            return data
        from shipyard.errors import RegistryError
        from shipyard.model_registry.fetch import fetch_registered

        try:
            version, path = fetch_registered(Path(root).resolve(), data["name"], data.get("version"))
        except RegistryError as exc:
            raise ValueError(f"no path given, and the model registry cannot provide it: {exc}") from None
        return {**data, "version": version, "path": path}


_FILE_TAG, _REGISTERED_TAG = "model-file", "registered-model"  # union branches; not part of the YAML path


def _model_entry_kind(value: Any) -> str:
    return _REGISTERED_TAG if isinstance(value, (dict, RegisteredModel)) else _FILE_TAG


ModelEntry = Annotated[
    Annotated[SpecFileOrDir, Tag(_FILE_TAG)] | Annotated[RegisteredModel, Tag(_REGISTERED_TAG)],
    Discriminator(_model_entry_kind),
]


class DeploymentSpec(_Section):
    """One model, its entry script, its environment, and how to package them."""

    name: Name = Field(description="Model and service name: V2 routes, image labels, model folder.")
    version: Version = Field(default="1", description="Model version reported by the runtime.")
    models: list[ModelEntry] = Field(
        min_length=1, description="Model files or folders. A plain path is part of this spec's model (name, "
                                  "version); {name, version, path} is a registered model of its own. Each lands "
                                  "in azureml-models/<name>/<version>/ under its own file name; AZUREML_MODEL_DIR "
                                  "is that folder for one model, azureml-models for several.")
    entry_script: SpecFile | None = Field(
        default=None, description="score.py with init()/run(). Omit to serve a single .onnx model directly.")
    source_dir: SpecDir | None = Field(
        default=None, description="Folder copied as the app (helpers next to score.py). Defaults to the entry "
                                  "script alone; entry_script must lie inside it.")
    environment: SpecFile | None = Field(
        default=None, description="Azure-style conda YAML or a requirements.txt. Omit for the runtime's "
                                  "dependencies only.")
    base_image: ImageRef | None = Field(
        default=None, description="Image to build on; needs Python 3 with the venv module. Default: "
                                  "python:<python>-slim-bookworm, or nvidia/cuda when gpu is set.")
    python: PythonVersion | None = Field(
        default=None, description="Python major.minor. Default: the environment's python=, else the base image's.")
    system_packages: list[AptPackage] = Field(default_factory=list,
                                              description="Debian packages the model needs at run time.")
    env: ImageEnv = Field(default_factory=dict,
                                          description="Environment variables baked into the image.")
    port: Port = Field(default=DEFAULT_PORT, description="Port the runtime listens on.")
    grpc_port: Port | None = Field(
        default=DEFAULT_GRPC_PORT,
        description="Port for the Open Inference Protocol over gRPC (tritonclient.grpc); null: no gRPC.",
    )
    labels: dict[LabelKey, PlainText] = Field(default_factory=dict, description="Extra image labels.")
    gpu: GpuSettings | None = Field(default=None, description="Build a CUDA image.")
    execution_providers: list[ExecutionProvider] = Field(
        default_factory=list, description="Accelerators in order of preference (ONNX Runtime providers; "
                                          "PyTorch models use CUDA/ROCm/CPU), e.g. [TensorRT, CUDA, CPU]. "
                                          "Default: CUDA when present, else CPU.")
    strict_providers: bool = Field(
        default=False, description="Fail at start when the first execution provider is unavailable, "
                                   "instead of falling back to the next one (in the end the CPU).")
    batching: BatchingSettings | None = Field(
        default=None, description="Run concurrent requests as one model call (dynamic batching). Default: off.")
    build: BuildSettings = Field(default_factory=BuildSettings, description="Build-only settings.")

    _root: Path = PrivateAttr(default_factory=Path.cwd)
    _file: Path | None = PrivateAttr(default=None)
    _lines: LineMap = PrivateAttr(default_factory=LineMap)

    @property
    def root(self) -> Path:
        """The folder relative paths in the spec resolve against."""
        return self._root

    @property
    def file(self) -> Path | None:
        """The YAML file this spec was read from, if any."""
        return self._file

    def line_of(self, *field: str | int) -> int | None:
        """The line of *field* (``"python"``, ``"models", 0``) in the spec file, when read from one."""
        return self._lines.line_of(field) if self._lines else None

    @field_validator("labels")
    @classmethod
    def _no_reserved_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if key.startswith(RESERVED_LABEL_PREFIX):
                raise ValueError(f"'{key}' is reserved for Shipyard's own labels ({RESERVED_LABEL_PREFIX}*)")
        return labels

    @property
    def model_paths(self) -> list[Path]:
        """Every model file or folder, plain or registered, in spec order."""
        return [entry.path if isinstance(entry, RegisteredModel) else entry for entry in self.models]

    @property
    def model_groups(self) -> dict[tuple[str, str], list[Path]]:
        """``(name, version) -> paths``: the ``azureml-models/<name>/<version>/`` folders and what goes in each.

        Plain paths belong to the spec's own ``name`` and ``version``.
        """
        groups: dict[tuple[str, str], list[Path]] = {}
        for entry in self.models:
            key = (entry.name, str(entry.version)) if isinstance(entry, RegisteredModel) else (self.name, self.version)
            groups.setdefault(key, []).append(entry.path if isinstance(entry, RegisteredModel) else entry)
        return groups

    @model_validator(mode="after")
    def _check_consistency(self) -> DeploymentSpec:
        if self.entry_script is None and len(self.model_groups) > 1:
            raise ValueError("several models ({}) need an entry_script that loads them (Model.get_model_path); "
                             "Shipyard serves only one model file without a score.py".format(
                                 ", ".join(f"{name} {version}" for name, version in self.model_groups)))
        if self.entry_script is None and not any(_served_directly(path) for path in self.model_paths):
            raise ValueError("entry_script is required unless a model is a single .onnx, .pt (TorchScript) "
                             "or .pt2 (torch.export) file (Shipyard serves those without a score.py)")
        if (self.source_dir is not None and self.entry_script is not None
                and not self.entry_script.is_relative_to(self.source_dir)):
            raise ValueError(f"entry_script {self.entry_script} must lie inside source_dir {self.source_dir}")
        if self.grpc_port == self.port:
            raise ValueError(f"port and grpc_port are both {self.port}; HTTP and gRPC need a port each "
                             "(set grpc_port: null for no gRPC)")
        return self

    @property
    def serves_onnx_directly(self) -> bool:
        """True when the runtime serves an .onnx model without an entry script."""
        return self.entry_script is None and any(_is_onnx(path) for path in self.model_paths)


def _is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def _served_directly(path: Path) -> bool:
    return path.suffix.lower() in DIRECT_MODEL_SUFFIXES


def load_spec(path: str | Path = DEFAULT_SPEC_NAME) -> DeploymentSpec:
    """Read and validate a deployment spec; *path* may be the YAML file or its folder.

    Raises:
        SpecError: the file is missing or invalid; the message names the field and line.
    """
    path = Path(path)
    if path.is_dir():
        path = path / DEFAULT_SPEC_NAME
    data, lines = load_yaml(path)
    return parse_spec(data, root=path.parent, file=path, lines=lines)


def parse_spec(data: Any, *, root: str | Path, file: str | Path | None = None,
               lines: LineMap | None = None) -> DeploymentSpec:
    """Validate an already-parsed spec (a dict); paths resolve against *root*.

    Raises:
        SpecError: with the first problem's field and line; further problems are listed too.
    """
    file_name = str(file) if file is not None else None
    if not isinstance(data, dict):
        raise SpecError("the spec must be a YAML mapping (name: ..., models: [...], ...)", file=file_name,
                        line=(lines.line_of(()) if lines else None) or (1 if file_name else None))
    try:
        spec = DeploymentSpec.model_validate(data, context={"root": Path(root)})
    except ValidationError as exc:
        raise _spec_error(exc, file_name, lines or LineMap()) from None
    spec._root = Path(root).resolve()
    spec._file = Path(file).resolve() if file is not None else None
    spec._lines = lines or LineMap()
    return spec


def spec_json_schema() -> dict[str, Any]:
    """JSON Schema of ``shipyard.yaml`` for editors (yaml-language-server, VS Code)."""
    schema = DeploymentSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Shipyard deployment spec (shipyard.yaml)"
    return schema


def _spec_error(exc: ValidationError, file: str | None, lines: LineMap) -> SpecError:
    problems = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if part not in (_FILE_TAG, _REGISTERED_TAG))
        field = ".".join(str(part) for part in loc) or None
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field '{loc[-1]}'" + _suggest(str(loc[-1]))
        elif error["type"] == "missing":
            message = "this field is required"
        problems.append((field, lines.line_of(loc), message))
    problems.sort(key=lambda problem: problem[1] if problem[1] is not None else 1 << 30)
    field, line, message = problems[0]
    for other_field, other_line, other_message in problems[1:]:
        where = f"line {other_line}, " if other_line else ""
        message += f"\n  also {where}field '{other_field}': {other_message}"
    return SpecError(message, file=file, field=field, line=line)


def _known_fields() -> set[str]:
    names: set[str] = set()
    for model in (DeploymentSpec, BuildSettings, PipSettings, GpuSettings, RegisteredModel):
        names.update(model.model_fields)
    return names


def _suggest(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(_known_fields()), n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; allowed fields: {', '.join(DeploymentSpec.model_fields)}"
