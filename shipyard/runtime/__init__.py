"""The HTTP scoring service: FastAPI on uvicorn around one :class:`~shipyard.scoring.base.Scorer`.

Public API: :func:`create_app` (the ASGI app), :func:`serve` (run it, with workers and signals),
:class:`RuntimeSettings`. Images run ``python -m shipyard.runtime``. Imports are lazy so that
reading the settings (the builder and deploy targets do) does not import FastAPI.

Modules: ``dataplane`` (behaviour, transport-agnostic), ``v2codec`` (V2 tensors on the wire),
``azure_routes`` / ``v2_routes`` / ``health`` / ``metrics`` (HTTP), ``middleware`` with ``auth``,
``limits`` and ``request_ids``, ``server`` and ``supervisor`` (processes and signals).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.runtime.settings import RuntimeSettings, load_settings

if TYPE_CHECKING:
    from shipyard.runtime.app import create_app
    from shipyard.runtime.server import serve

__all__ = ["RuntimeSettings", "create_app", "load_settings", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from shipyard.runtime.app import create_app

        return create_app
    if name == "serve":
        from shipyard.runtime.server import serve

        return serve
    raise AttributeError(f"module 'shipyard.runtime' has no attribute {name!r}")
