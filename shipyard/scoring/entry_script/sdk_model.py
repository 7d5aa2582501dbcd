"""``azureml.core.model.Model.get_model_path`` without azureml-core: where a v1 service found its models.

SDK v1 scoring scripts find their model with ``Model.get_model_path("name")`` (or
``get_model_path("name", version=2)``). Inside a deployed v1 service azureml-core answered from
the folder Azure had unpacked the registered models into, ``$AML_APP_ROOT/azureml-models/<name>/
<version>/``. Installing azureml-core (and its ~60 dependencies) only for that lookup is what this
stand-in saves; :mod:`shims` serves it as ``azureml.core.model`` when azureml-core is not installed.

The lookup follows azureml-core 1.61 ``Model._get_model_path_local``:

1. ``<models>/<name>/<version>`` (``version`` given, else the highest numbered folder), where
   ``<models>`` is ``$AML_APP_ROOT/azureml-models``; a version folder holding exactly one file or
   folder answers with that entry (a registered model is one file or one folder), as azureml-core;
2. ``./<name>`` relative to the working directory, returned as given (azureml-core's fallback).

Shipyard adds, after (1), the layouts ``AZUREML_MODEL_DIR`` names: several models
(``AZUREML_MODEL_DIR`` is an ``azureml-models`` folder, ``<dir>/<name>/<version>``) and, after
(2), one model (``AZUREML_MODEL_DIR`` itself, unless it is another model's ``<name>/<version>``
folder). Where azureml-core failed (a version folder with several entries) this answers with the
folder itself; a script that worked with azureml-core gets the same answer here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODELS_FOLDER = "azureml-models"  # azureml-core's MODELS_DIR name under AML_APP_ROOT
INSTALL_HINT = "pip install azureml-core"


class AzureMLException(Exception):
    """Base of the two errors below, as in ``azureml.exceptions``."""

    def __init__(self, exception_message: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(exception_message)
        self.message = exception_message


class WebserviceException(AzureMLException):
    """A bad ``get_model_path`` call, or a given version not found (``azureml.exceptions.WebserviceException``)."""


class ModelNotFoundException(AzureMLException):
    """No folder holds the model, no version given (``azureml.exceptions.ModelNotFoundException``)."""


class Model:
    """The part of ``azureml.core.model.Model`` a deployed scoring script uses: :meth:`get_model_path`.

    Everything else (registering, deploying, downloading) talks to an Azure ML workspace and needs
    the real package.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImportError(
            "Shipyard's azureml.core stand-in provides only Model.get_model_path(); creating a Model "
            f"(workspace access) needs the real SDK: {INSTALL_HINT}"
        )

    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: Any = None) -> str:
        """The path of model *model_name* (its file or folder), as inside a deployed v1 service.

        Args:
            model_name: the registered name (``azureml-models/<model_name>/``).
            version: an int; default the highest version present.
            _workspace: ignored: the service resolves models locally, never from a workspace.

        Raises:
            WebserviceException: ``version`` is not an int, or ``model_name`` is None.
            ModelNotFoundException: no folder holds the model; the message lists every place searched.
                With a ``version``, a :class:`WebserviceException` with that message (azureml-core's types).
        """
        if version is not None and not isinstance(version, int):
            raise WebserviceException("version should be an int")
        if model_name is None:
            raise WebserviceException("model_name is None")
        if _workspace is not None:
            logger.info("Model.get_model_path(%r): _workspace is ignored; the model is looked up locally", model_name)
        searched: list[str] = []
        for root in _model_roots():
            found = _in_models_root(root, model_name, version, searched)
            if found is not None:
                return found
        searched.append(os.path.join(os.getcwd(), model_name))
        if os.path.exists(model_name):  # azureml-core: ./<model_name>, returned as given
            return model_name
        found = _single_model_dir(model_name, version, searched)
        if found is not None:
            return found
        wanted = f"model '{model_name}'" + (f" version {version}" if version is not None else "")
        error = ModelNotFoundException if version is None else WebserviceException
        raise error(
            f"{wanted} not found; searched: {', '.join(searched)}. Put the model in "
            f"{MODELS_FOLDER}/<name>/<version>/ (shipyard.yaml: models: [{{name: {model_name}, version: 1, "
            "path: ...}]) or pass its folder as --model-dir / AZUREML_MODEL_DIR"
        )


def models_dir() -> str:
    """azureml-core's ``MODELS_DIR``: ``$AML_APP_ROOT/azureml-models`` (relative when AML_APP_ROOT is unset)."""
    return os.path.join(os.environ.get("AML_APP_ROOT", ""), MODELS_FOLDER)


def _model_roots() -> list[str]:
    """Folders laid out as ``<name>/<version>/``: azureml-core's, then a multi-model AZUREML_MODEL_DIR."""
    roots = [models_dir()]
    model_dir = os.environ.get("AZUREML_MODEL_DIR")
    if model_dir and Path(model_dir).name == MODELS_FOLDER:
        roots.append(model_dir)
    unique: list[str] = []
    for root in roots:
        if not any(_same(root, seen) for seen in unique):
            unique.append(root)
    return unique


def _in_models_root(root: str, name: str, version: int | None, searched: list[str]) -> str | None:
    """``<root>/<name>/<version>`` (latest when *version* is None), or None when it does not exist."""
    candidate = os.path.join(root, name)
    if not os.path.isdir(candidate):
        searched.append(candidate)
        return None
    if version is None:
        numbered = [int(entry) for entry in os.listdir(candidate) if entry.isdigit()]
        if not numbered:
            searched.append(os.path.join(candidate, "<version>"))
            return None
        version = max(numbered)
        logger.debug("version is None. Latest version is %s", version)
    folder = os.path.join(candidate, str(version))
    searched.append(folder)
    if not os.path.exists(folder):
        return None
    return _registered_entry(folder)


def _single_model_dir(name: str, version: int | None, searched: list[str]) -> str | None:
    """AZUREML_MODEL_DIR when it holds one model (not another model's ``<name>/<version>`` folder)."""
    model_dir = os.environ.get("AZUREML_MODEL_DIR")
    if not model_dir or not os.path.isdir(model_dir) or Path(model_dir).name == MODELS_FOLDER:
        return None
    path = Path(model_dir).resolve()
    if path.parent.parent.name == MODELS_FOLDER:  # .../azureml-models/<name>/<version>: answer only for that one
        if path.parent.name != name or (version is not None and path.name != str(version)):
            return None
    searched.append(model_dir)
    return _registered_entry(model_dir)


def _registered_entry(folder: str) -> str:
    """The one file or folder in a version folder (azureml-core's answer), else the folder itself.

    Raises:
        WebserviceException: the folder is empty, as azureml-core raises.
    """
    entries = os.listdir(folder)
    if not entries:
        raise WebserviceException(f"Dir {folder} can contain only 1 file or folder. Found []: the model folder is "
                                  "empty; copy the registered model file or folder into it")
    visible = [entry for entry in entries if not entry.startswith(".")]
    if len(entries) == 1 or len(visible) == 1:
        return os.path.join(folder, entries[0] if len(entries) == 1 else visible[0])
    return folder


def _same(first: str, second: str) -> bool:
    return os.path.abspath(first) == os.path.abspath(second)
