"""Import a ``score.py`` the way Azure ML does, and explain in one line why it failed.

Scripts written for Azure read ``AZUREML_MODEL_DIR`` in ``init()``, import sibling modules from their
own folder and sometimes read ``AML_APP_ROOT``; all of that must be in place *before* the import,
because many scripts do work at module level. The script is imported by path under a unique module
name so two scripts called ``score.py`` (or a script called ``json.py``) never collide with each
other or with the standard library.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from shipyard.errors import ModelLoadError
from shipyard.scoring.base import SETTING_NAMES
from shipyard.scoring.entry_script import shims

logger = logging.getLogger(__name__)

_module_numbers = itertools.count(1)


def prepare_environment(script: Path, model_dir: Path | str) -> None:
    """Export the variables an Azure entry script expects and put its folder on ``sys.path``.

    *model_dir* is exported as ``AZUREML_MODEL_DIR`` as given; ``""`` leaves the variable alone.
    """
    if model_dir != "":
        os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    os.environ["AZUREML_ENTRY_SCRIPT"] = str(script)
    os.environ.setdefault("AML_APP_ROOT", str(script.parent))
    folder = str(script.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    shims.install()


def import_script(script: Path, setting: str = SETTING_NAMES["entry_script"]) -> ModuleType:
    """Execute ``script`` as a fresh module (*setting*: how to name the script's setting in a hint).

    Raises:
        ModelLoadError: the file is missing, has a syntax error, or raised while importing; the
            message names the script line and the exception, and the original is chained.
    """
    if not script.is_file():
        raise ModelLoadError(
            f"entry script {script} does not exist; pass the path of your score.py ({setting})"
        )
    stem = "".join(ch if ch.isalnum() else "_" for ch in script.stem)
    name = f"shipyard_entry_{stem}_{next(_module_numbers)}"
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:  # pragma: no cover - only for non-.py suffixes
        raise ModelLoadError(f"entry script {script} cannot be imported as Python (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickle and typing look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        where = Path(exc.filename).name if exc.filename else script.name
        raise ModelLoadError(
            f"{where} line {exc.lineno}: {type(exc).__name__}: {exc.msg}; fix the script and restart"
        ) from exc
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise ModelLoadError(
            f"{_where(script, exc.__traceback__)}importing {script.name} raised {describe(exc)}"
        ) from exc
    return module


def call_init(init: Callable[[], Any], script: Path) -> None:
    """Run the script's ``init()`` once, turning any failure into a :class:`ModelLoadError`."""
    logger.info("Calling init() of %s", script)
    try:
        init()
    except (Exception, SystemExit) as exc:
        raise ModelLoadError(
            f"{_where(script, exc.__traceback__)}init() raised {describe(exc)}"
        ) from exc
    logger.info("init() of %s finished", script)


def describe(exc: BaseException) -> str:
    """``ValueError: message`` on one line (the first line of a multi-line message)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _where(script: Path, tb: TracebackType | None) -> str:
    """``score.py line 12: `` for the deepest frame inside the script, or nothing."""
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if Path(frame.f_code.co_filename) == script:
            line = lineno
    return f"{script.name} line {line}: " if line is not None else ""
