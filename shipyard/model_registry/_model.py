"""What a registered model version is, and the helpers both backends share (hashing, references)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shipyard.errors import ModelIntegrityError, RegistryError

CHUNK = 1 << 20
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_REFERENCE_RE = re.compile(r"^(?:azureml:)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:[:@](?P<version>[A-Za-z0-9]+))?$")


class ModelFile(BaseModel):
    """One file of a model: where it sits inside the model, and its content's digest."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    size: int


class ModelVersion(BaseModel):
    """One registered version of a model (``Model.register`` / ``az ml model create``)."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int = Field(ge=1)
    kind: Literal["file", "folder"]
    """A single file (its name is ``files[0].path``) or a folder of files."""
    files: list[ModelFile]
    tags: dict[str, str] = Field(default_factory=dict)
    created: str

    @property
    def reference(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def size(self) -> int:
        return sum(file.size for file in self.files)


def check_name(name: str) -> str:
    """Model names: lower-case letters, digits, '.', '_', '-' (they become OCI repository names)."""
    if not NAME_RE.match(name):
        raise RegistryError(f"model name {name!r} is not valid: use lower-case letters, digits, '.', '_', '-' "
                            "(at most 63, starting with a letter or digit), e.g. 'fraud-model'")
    return name


def parse_reference(reference: str) -> tuple[str, int | None]:
    """``name``, ``name:3``, ``name@latest``, ``azureml:name:3`` -> (name, version or None for latest)."""
    match = _REFERENCE_RE.match(reference.strip())
    if not match:
        raise RegistryError(f"{reference!r} is not a model reference: use NAME, NAME:VERSION or azureml:NAME:VERSION")
    version = match.group("version")
    if version is None or version == "latest":
        return check_name(match.group("name").lower()), None
    if not version.isdigit() or int(version) < 1:
        raise RegistryError(f"version {version!r} in {reference!r} is not a positive whole number")
    return check_name(match.group("name").lower()), int(version)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_files(path: Path) -> tuple[Literal["file", "folder"], list[tuple[str, Path]]]:
    """The files to register for *path*: (path in the model, file) pairs in a stable order.

    Paths start with the registered file's or folder's own name, as Azure ML kept it
    (``azureml-models/<name>/<version>/model/...`` for a registered ``model/`` folder).
    """
    path = path.resolve()
    if path.is_file():
        return "file", [(path.name, path)]
    if not path.is_dir():
        raise RegistryError(f"'{path}' is neither a file nor a folder")
    files = sorted((f"{path.name}/{file.relative_to(path).as_posix()}", file) for file in path.rglob("*")
                   if file.is_file() and "__pycache__" not in file.parts)
    if not files:
        raise RegistryError(f"folder '{path}' has no files to register")
    return "folder", files


def parse_tags(tags: list[str] | dict[str, str] | None) -> dict[str, str]:
    """``["k=v", ...]`` or a dict -> a dict; refuses entries without '='."""
    if isinstance(tags, dict) or tags is None:
        return dict(tags or {})
    result = {}
    for tag in tags:
        key, sep, value = tag.partition("=")
        if not sep or not key:
            raise RegistryError(f"tag {tag!r} is not KEY=VALUE")
        result[key] = value
    return result


def copy_verified(chunks: Iterator[bytes], destination: Path, file: ModelFile, *, where: str) -> None:
    """Write *chunks* to *destination*, refusing them unless they hash to ``file.sha256``."""
    digest = hashlib.sha256()
    size = 0
    destination.parent.mkdir(parents=True, exist_ok=True)
    with open(destination, "wb") as handle:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            handle.write(chunk)
    if digest.hexdigest() != file.sha256 or size != file.size:
        destination.unlink(missing_ok=True)
        raise ModelIntegrityError(
            f"{where}: file '{file.path}' is corrupted: expected sha256 {file.sha256} ({file.size} bytes), "
            f"got {digest.hexdigest()} ({size} bytes). Register the model again from its source")


def materialize(version: ModelVersion, destination: Path,
                fetch: Callable[[ModelFile], Iterator[bytes]], *, where: str) -> Path:
    """Write every file of *version* under *destination* (verified), all or nothing.

    Returns the model's path under *destination*: the registered file, or the registered folder.
    """
    destination.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=destination))
    try:
        for file in version.files:
            target = (staging / file.path).resolve()
            if not target.is_relative_to(staging.resolve()):
                raise ModelIntegrityError(f"{where}: file path '{file.path}' leaves the model folder")
            copy_verified(fetch(file), target, file, where=where)
        for file in version.files:
            final = destination / file.path
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / file.path, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination / version.files[0].path.split("/")[0]
