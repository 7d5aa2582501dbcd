"""What ``azureml.core`` is when azureml-core is not installed: ``Model``, and a clear error for the rest.

ONNX and scikit-learn samples start with ``import azureml.core`` or ``from azureml.core import Model``
even when they only call :meth:`Model.get_model_path`; :mod:`shims` serves this module as
``azureml.core`` (and ``azureml.core.model``) so they run unchanged. Any other name
(``Workspace``, ``Run``, ``InferenceConfig``...) talks to an Azure ML workspace: asking for it
raises an :class:`ImportError` that names the package to install, instead of a bare
``AttributeError`` deep in the script.
"""

from __future__ import annotations

from shipyard.scoring.entry_script.sdk_model import INSTALL_HINT, Model

__all__ = ["Model"]


def missing(module: str, name: str) -> ImportError:
    """The error for a name Shipyard's stand-in for *module* does not provide."""
    return ImportError(
        f"{module}.{name} is not available: Shipyard provides only azureml.core.Model "
        f"(Model.get_model_path) without the Azure ML SDK; to use {name}, {INSTALL_HINT} in the environment"
    )

