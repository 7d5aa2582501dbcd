"""Inspect ``run()`` once at load time and pick how requests are passed to it.

The rules are azmlinfsrv's, so a script behaves the same here: ``run`` must take a data parameter,
may take ``request_headers``, must not use ``*args``/``**kwargs``/positional-only parameters, and
may not combine ``@rawhttp`` with ``@input_schema``.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.errors import ModelLoadError
from shipyard.scoring.entry_script import shims
from shipyard.scoring.entry_script.inputs import NO_DEFAULT, RawInput, SchemaInput, StringInput

HEADERS_PARAMETER = "request_headers"
_AML_REQUEST = "shipyard.scoring.entry_script.aml_request"


@dataclass(frozen=True)
class RunPlan:
    """How to call ``run()``: the input parser, and whether it wants ``request_headers``."""

    parse: StringInput | SchemaInput | RawInput
    wants_headers: bool
    mode: str  # "string", "schema" or "raw"


def is_schema_decorated(run: Callable[..., Any]) -> bool:
    """Whether ``run`` carries inference-schema ``@input_schema``/``@output_schema`` decorators."""
    try:
        from inference_schema.schema_util import is_schema_decorated as check
    except ImportError:  # the script could not have used the decorators either
        return False
    return check(run)


def reset_rawhttp_flags() -> None:
    """Clear the ``@rawhttp`` flag of Shipyard's module and of any real Azure module already imported.

    Shipyard's module is only looked up, never imported here: it imports werkzeug, which only
    ``@rawhttp`` scripts (the ones that import it) pay for.
    """
    ours = sys.modules.get(_AML_REQUEST)
    if ours is not None:
        ours._rawHttpRequested = False
    for name in shims.REQUEST_MODULES:
        module = sys.modules.get(name)
        if module is not None and not shims.is_shim(module) and hasattr(module, "_rawHttpRequested"):
            module._rawHttpRequested = False


def rawhttp_requested() -> bool:
    """Whether importing the script applied ``@rawhttp`` (Shipyard's or the real Azure one)."""
    if getattr(sys.modules.get(_AML_REQUEST), "_rawHttpRequested", False):
        return True
    for name in shims.REQUEST_MODULES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "_rawHttpRequested", False):
            return True
    return False


def analyse_run(run: Callable[..., Any], script: Path, raw: bool) -> RunPlan:
    """Decide how ``run`` is called.

    Raises:
        ModelLoadError: the signature is one azmlinfsrv would refuse too.
    """
    try:
        parameters = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"{script.name}: cannot read the signature of run(): {exc}") from exc
    allowed = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    bad = [p.name for p in parameters if p.kind not in allowed]
    if bad:
        raise ModelLoadError(
            f"{script.name}: run() cannot take *args, **kwargs or positional-only parameters "
            f"(found {', '.join(bad)}); declare it as run(data) or run(data, request_headers)"
        )
    wants_headers = any(p.name == HEADERS_PARAMETER for p in parameters)
    data_parameters = [p for p in parameters if p.name != HEADERS_PARAMETER]
    if not data_parameters:
        raise ModelLoadError(
            f"{script.name}: run() needs a parameter for the input data, e.g. def run(data):"
        )
    decorated = is_schema_decorated(run)
    if raw and decorated:
        raise ModelLoadError(f"{script.name}: run() cannot be decorated with both @rawhttp and @input_schema")
    first = data_parameters[0].name
    if raw:
        return RunPlan(RawInput(first), wants_headers, "raw")
    if decorated:
        empty = inspect.Parameter.empty
        defaults = [(p.name, NO_DEFAULT if p.default is empty else p.default) for p in data_parameters]
        return RunPlan(SchemaInput(defaults), wants_headers, "schema")
    return RunPlan(StringInput(first), wants_headers, "string")
