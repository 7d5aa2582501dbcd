"""Make Azure's raw-HTTP imports work in ``score.py`` without any Azure package installed.

Entry scripts import ``AMLRequest``, ``rawhttp`` and ``AMLResponse`` from one of two places::

    from azureml.contrib.services.aml_request import AMLRequest, rawhttp      # SDK v1 era
    from azureml_inference_server_http.api.aml_request import AMLRequest     # azmlinfsrv 1.x

Both packages pull in Flask and half of the Azure SDK. Instead, a :class:`ShimFinder` is appended
to the **end** of :data:`sys.meta_path`: the normal path finders run first, so when a user has the
real packages installed those win and nothing is shadowed. Only when no real module exists does
the finder answer, with a module that re-exports Shipyard's implementation (and empty parent
packages, ``azureml`` / ``azureml.contrib`` ..., when those are absent too). Nothing is imported
eagerly, and installing the finder twice is harmless.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

_REQUEST = "shipyard.scoring.entry_script.aml_request"
_RESPONSE = "shipyard.scoring.entry_script.aml_response"

# shim module name -> Shipyard module whose public names it re-exports (None: empty package)
SHIMS: dict[str, str | None] = {
    "azureml": None,
    "azureml.contrib": None,
    "azureml.contrib.services": None,
    "azureml.contrib.services.aml_request": _REQUEST,
    "azureml.contrib.services.aml_response": _RESPONSE,
    "azureml_inference_server_http": None,
    "azureml_inference_server_http.api": None,
    "azureml_inference_server_http.api.aml_request": _REQUEST,
    "azureml_inference_server_http.api.aml_response": _RESPONSE,
}
_EXPORTS = {_REQUEST: ("AMLRequest", "rawhttp"), _RESPONSE: ("AMLResponse",)}
REQUEST_MODULES = tuple(name for name, target in SHIMS.items() if target == _REQUEST)


class ShimLoader(importlib.abc.Loader):
    """Fills a shim module with the names of its Shipyard counterpart."""

    def __init__(self, target: str | None) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # default module creation

    def exec_module(self, module: ModuleType) -> None:
        module.__shipyard_shim__ = True  # type: ignore[attr-defined]
        if self.target is None:
            return
        source = importlib.import_module(self.target)
        for name in _EXPORTS[self.target]:
            setattr(module, name, getattr(source, name))
        module.__doc__ = f"Shipyard stand-in for this Azure module; see {self.target}."


class ShimFinder(importlib.abc.MetaPathFinder):
    """Answers only for the names in :data:`SHIMS`, and only after every real finder said no."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[override]
        if fullname not in SHIMS:
            return None
        target_module = SHIMS[fullname]
        is_package = target_module is None
        return importlib.machinery.ModuleSpec(
            fullname, ShimLoader(target_module), origin="shipyard-shim", is_package=is_package
        )


def install() -> None:
    """Append the finder to :data:`sys.meta_path` once (idempotent)."""
    if not any(isinstance(finder, ShimFinder) for finder in sys.meta_path):
        sys.meta_path.append(ShimFinder())


def is_shim(module: ModuleType) -> bool:
    """Whether ``module`` is one of ours rather than a real Azure package."""
    return bool(getattr(module, "__shipyard_shim__", False))
