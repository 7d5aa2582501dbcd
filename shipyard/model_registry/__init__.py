"""The model registry: ``shipyard model register/list/show/download/delete`` and references in specs.

Two backends with one interface: the local store (:class:`~.local.LocalModelStore`, the default,
content-addressed on this machine) and an OCI registry (:class:`~.oci.OciModelRegistry`,
``oci://HOST/PREFIX``: models as OCI artifacts next to the images, with Docker's credentials).
Pick one with a location string::

    from shipyard.model_registry import open_registry

    registry = open_registry()                                # the local store
    registry = open_registry("oci://registry.example.com/models")
    model = registry.register("fraud", "model/", tags=["stage=prod"])
    registry.download("fraud", model.version, "out/")

Imports and specs refer to versions as ``name:version`` (or Azure's ``azureml:name:version``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from shipyard.model_registry._model import ModelFile, ModelVersion, parse_reference
from shipyard.model_registry.local import LocalModelStore, default_store
from shipyard.model_registry.oci import OciModelRegistry

__all__ = ["LocalModelStore", "ModelFile", "ModelRegistry", "ModelVersion", "OciModelRegistry", "default_store",
           "open_registry", "parse_reference"]


class ModelRegistry(Protocol):
    """What every backend does."""

    @property
    def location(self) -> str: ...

    def register(self, name: str, path: str | Path, *, version: int | None = None,
                 tags: list[str] | dict[str, str] | None = None) -> ModelVersion: ...

    def list_versions(self, name: str | None = None) -> list[ModelVersion]: ...

    def show(self, name: str, version: int | None = None) -> ModelVersion: ...

    def download(self, name: str, version: int | None, destination: str | Path) -> Path: ...

    def delete(self, name: str, version: int) -> None: ...


def open_registry(location: str | Path | None = None) -> ModelRegistry:
    """The registry at *location*: ``oci://...`` or a folder; default ``SHIPYARD_MODEL_REGISTRY``, else the
    local store."""
    location = location or os.environ.get("SHIPYARD_MODEL_REGISTRY")
    if location is not None and str(location).startswith("oci://"):
        return OciModelRegistry(str(location))
    return LocalModelStore(location)
