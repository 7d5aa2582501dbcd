"""The local model store: content-addressed blobs plus one index file, safe under concurrent writers.

Layout under the store's folder (default ``~/.local/share/shipyard/models``, or
``SHIPYARD_MODEL_STORE``)::

    index.json                 every model, version, file list and tags
    index.lock                 flock()ed by every writer
    blobs/sha256/ab/abcd...    one file per distinct content, named by its SHA-256

Every change (register, delete) happens while holding an exclusive ``flock`` on ``index.lock``,
so two processes registering the same name at once get versions 1 and 2, never the same one,
and a delete's blob clean-up cannot remove a blob another register is adding. The index is
replaced atomically (write a temporary file, ``os.replace``), so readers, which take no lock,
always see a whole index. Reads verify each blob against its SHA-256: a corrupted blob is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shipyard.errors import RegistryError
from shipyard.model_registry._model import (
    CHUNK,
    ModelFile,
    ModelVersion,
    check_name,
    materialize,
    model_files,
    parse_tags,
    sha256_file,
)

FORMAT = 1


def default_store() -> Path:
    """``SHIPYARD_MODEL_STORE``, else ``$XDG_DATA_HOME/shipyard/models`` (``~/.local/share/...``)."""
    if os.environ.get("SHIPYARD_MODEL_STORE"):
        return Path(os.environ["SHIPYARD_MODEL_STORE"])
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "shipyard" / "models"


class LocalModelStore:
    """Models on this machine's disk."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_store()

    @property
    def location(self) -> str:
        return str(self.root)

    # -- reading ------------------------------------------------------------------------------
    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of *name*, or of every model), oldest first."""
        models = self._read_index()["models"]
        names = [name] if name is not None else sorted(models)
        return [ModelVersion.model_validate(models[n][v]) for n in names for v in sorted(models.get(n, {}), key=int)]

    def show(self, name: str, version: int | None = None) -> ModelVersion:
        """One version; ``None``: the latest."""
        versions = self._read_index()["models"].get(name)
        if not versions:
            raise RegistryError(f"no model '{name}' in {self.location}; see 'shipyard model list'")
        if version is None:
            version = max(int(v) for v in versions)
        if str(version) not in versions:
            raise RegistryError(f"model '{name}' has no version {version} in {self.location} "
                                f"(versions: {', '.join(sorted(versions, key=int))})")
        return ModelVersion.model_validate(versions[str(version)])

    def download(self, name: str, version: int | None, destination: str | Path) -> Path:
        """Copy a version's files into *destination*, each checked against its SHA-256.

        Raises:
            ModelIntegrityError: a blob does not match its digest (nothing is left in *destination*).
        """
        model = self.show(name, version)
        return materialize(model, Path(destination), self._read_blob, where=f"{self.location} {model.reference}")

    # -- writing ------------------------------------------------------------------------------
    def register(self, name: str, path: str | Path, *, version: int | None = None,
                 tags: list[str] | dict[str, str] | None = None) -> ModelVersion:
        """Store the file or folder *path* as a new version of *name* (the next number by default)."""
        check_name(name)
        kind, files = model_files(Path(path))
        parsed_tags = parse_tags(tags)
        with self._locked() as index:
            versions = index["models"].setdefault(name, {})
            if version is None:
                version = max((int(v) for v in versions), default=0) + 1
            elif str(version) in versions:
                raise RegistryError(f"model '{name}' already has version {version}; leave --version out "
                                    "for the next one, or delete that version first")
            entries = [ModelFile(path=relative, sha256=self._store_blob(file), size=file.stat().st_size)
                       for relative, file in files]
            model = ModelVersion(name=name, version=version, kind=kind, files=entries, tags=parsed_tags,
                                 created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            versions[str(version)] = model.model_dump(mode="json")
        return model

    def delete(self, name: str, version: int) -> None:
        """Remove one version, and the blobs no other version uses."""
        with self._locked() as index:
            versions = index["models"].get(name, {})
            if str(version) not in versions:
                raise RegistryError(f"model '{name}' has no version {version} in {self.location}")
            del versions[str(version)]
            if not versions:
                del index["models"][name]
            used = {file["sha256"] for model in index["models"].values() for entry in model.values()
                    for file in entry["files"]}
            for blob in self._blobs().glob("*/*"):
                if blob.name not in used:
                    blob.unlink(missing_ok=True)

    # -- internals ----------------------------------------------------------------------------
    def _blobs(self) -> Path:
        return self.root / "blobs" / "sha256"

    def _blob_path(self, digest: str) -> Path:
        return self._blobs() / digest[:2] / digest

    def _store_blob(self, file: Path) -> str:
        digest = sha256_file(file)
        target = self._blob_path(digest)
        if target.is_file() and target.stat().st_size == file.stat().st_size:
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, prefix=".incoming-") as handle, \
                open(file, "rb") as source:
            while chunk := source.read(CHUNK):
                handle.write(chunk)
        os.replace(handle.name, target)
        return digest

    def _read_blob(self, file: ModelFile) -> Iterator[bytes]:
        path = self._blob_path(file.sha256)
        if not path.is_file():
            raise RegistryError(f"{self.location}: the blob of '{file.path}' ({file.sha256}) is missing")
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def _index_path(self) -> Path:
        return self.root / "index.json"

    def _read_index(self) -> dict[str, Any]:
        try:
            index = json.loads(self._index_path().read_text())
        except FileNotFoundError:
            return {"format": FORMAT, "models": {}}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"cannot read the model index {self._index_path()}: {exc}") from exc
        if index.get("format") != FORMAT:
            raise RegistryError(f"{self._index_path()} has format {index.get('format')!r}; this Shipyard reads "
                                f"format {FORMAT}")
        return index

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The index, read under an exclusive lock and written back atomically when the block succeeds."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "index.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                index = self._read_index()
                yield index
                with tempfile.NamedTemporaryFile("w", dir=self.root, delete=False, prefix=".index-") as handle:
                    json.dump(index, handle, indent=1, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(handle.name, self._index_path())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
