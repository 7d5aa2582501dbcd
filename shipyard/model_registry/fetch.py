"""Registered models a spec names without a path, fetched from the model registry into the spec's folder.

A spec entry ``{name: fraud, version: 7}`` (no ``path``) means "version 7 of fraud from the model
registry" (``SHIPYARD_MODEL_REGISTRY``, else the local store). It is downloaded, every file
checked against its SHA-256, into ``.shipyard-models/<name>/<version>/`` next to ``shipyard.yaml``
(a spec's paths stay inside its folder, so the build context sees it like any other model file),
and kept there as a cache: a second load finds it and checks nothing over the network. Leave
``version`` out for the latest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from shipyard.errors import RegistryError
from shipyard.model_registry import open_registry

CACHE_FOLDER = ".shipyard-models"
_RECORD = ".shipyard-model.json"


def fetch_registered(root: Path, name: str, version: int | None) -> tuple[int, str]:
    """Make version *version* (``None``: the latest) of *name* present under *root*.

    Returns:
        (the version, the model's path relative to *root*).

    Raises:
        RegistryError: the registry does not have it, cannot be reached, or a file is corrupted.
    """
    registry = open_registry()
    if version is not None:
        cached = _cached(root, name, version)
        if cached is not None:
            return version, cached
    model = registry.show(name, version)
    cached = _cached(root, name, model.version)
    if cached is not None:
        return model.version, cached
    folder = root / CACHE_FOLDER / name / str(model.version)
    if folder.exists():
        shutil.rmtree(folder)
    path = registry.download(name, model.version, folder)
    (folder / _RECORD).write_text(model.model_dump_json())
    return model.version, path.relative_to(root).as_posix()


def _cached(root: Path, name: str, version: int) -> str | None:
    folder = root / CACHE_FOLDER / name / str(version)
    try:
        record = json.loads((folder / _RECORD).read_text())
    except (OSError, ValueError):
        return None
    first = record["files"][0]["path"].split("/")[0]
    if not all((folder / file["path"]).is_file() and (folder / file["path"]).stat().st_size == file["size"]
               for file in record["files"]):
        return None
    return (folder / first).relative_to(root).as_posix()


__all__ = ["CACHE_FOLDER", "RegistryError", "fetch_registered"]
