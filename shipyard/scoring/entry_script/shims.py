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

The same mechanism serves the parts of the v1 SDK a *deployed* script uses:
``azureml.core.model.Model.get_model_path`` (:mod:`sdk_model`) and
``azureml.monitoring.ModelDataCollector`` (:mod:`data_collector`). Other ``azureml.core`` names
and submodules fail with an :class:`ImportError` that names the package to install.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

_REQUEST = "shipyard.scoring.entry_script.aml_request"
_RESPONSE = "shipyard.scoring.entry_script.aml_response"
_CORE = "shipyard.scoring.entry_script.sdk_core"
_EXCEPTIONS = "shipyard.scoring.entry_script.sdk_exceptions"
_MONITORING = "shipyard.scoring.entry_script.data_collector"

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
    "azureml.core": _CORE,
    "azureml.core.model": _CORE,
    "azureml.exceptions": _EXCEPTIONS,
    "azureml.monitoring": _MONITORING,
    "azureml.monitoring.modeldatacollector": _MONITORING,
}
_EXPORTS = {
    _REQUEST: ("AMLRequest", "rawhttp"),
    _RESPONSE: ("AMLResponse",),
    _CORE: ("Model",),
    _EXCEPTIONS: ("AzureMLException", "ModelNotFoundException", "WebserviceException"),
    _MONITORING: ("ModelDataCollector",),
}
#: Stand-ins for part of a package: other names raise an ImportError naming the package to install.
_PARTIAL = {"azureml.core", "azureml.core.model"}
#: Packages with stand-in submodules; any other submodule is missing with that hint.
_PARTIAL_PACKAGES = {"azureml.core": "azureml-core"}
REQUEST_MODULES = tuple(name for name, target in SHIMS.items() if target == _REQUEST)
_PACKAGES = {name for name in SHIMS if any(other.startswith(name + ".") for other in SHIMS)}


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
        module.__all__ = list(_EXPORTS[self.target])  # type: ignore[attr-defined]
        module.__doc__ = f"Shipyard stand-in for this Azure module; see {self.target}."
        if module.__name__ in _PARTIAL:
            module.__getattr__ = _missing_name(module.__name__)  # type: ignore[attr-defined]


class ShimFinder(importlib.abc.MetaPathFinder):
    """Answers only for the names in :data:`SHIMS`, and only after every real finder said no."""

    def find_spec(self, fullname, path, target=None):  # type: ignore[override]
        if fullname not in SHIMS:
            for package, distribution in _PARTIAL_PACKAGES.items():
                if fullname.startswith(package + "."):
                    raise ModuleNotFoundError(
                        f"No module named {fullname!r}: Shipyard provides only azureml.core.Model "
                        f"(Model.get_model_path) without the Azure ML SDK; pip install {distribution} "
                        "in the environment to use the rest", name=fullname)
            return None
        target_module = SHIMS[fullname]
        is_package = fullname in _PACKAGES
        return importlib.machinery.ModuleSpec(
            fullname, ShimLoader(target_module), origin="shipyard-shim", is_package=is_package
        )


def _missing_name(module_name: str):
    """A module ``__getattr__`` that names the package to install for anything the stand-in lacks."""
    from shipyard.scoring.entry_script.sdk_core import missing

    def __getattr__(name: str) -> object:
        if name.startswith("__"):  # the import machinery probes __path__, __file__...: must be AttributeError
            raise AttributeError(name)
        raise missing(module_name, name)

    return __getattr__


def install() -> None:
    """Append the finder to :data:`sys.meta_path` once (idempotent)."""
    if not any(isinstance(finder, ShimFinder) for finder in sys.meta_path):
        sys.meta_path.append(ShimFinder())


def is_shim(module: ModuleType) -> bool:
    """Whether ``module`` is one of ours rather than a real Azure package."""
    return bool(getattr(module, "__shipyard_shim__", False))
