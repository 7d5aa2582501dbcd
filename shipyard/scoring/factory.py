"""Pick and load the scorer for a model: an entry script, or a model file served directly.

The choice is an explicit table of file suffixes → ``"module:Class"`` import strings, resolved only
when chosen, so serving an entry script never imports onnxruntime, and a new runtime (PyTorch for
``.pt``/``.pt2``, say) is one line here plus its own module.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

from shipyard.extras import install_hint
from shipyard.errors import ModelLoadError
from shipyard.scoring.base import ModelInfo, Scorer

logger = logging.getLogger(__name__)

ENTRY_SCRIPT_SCORER = "shipyard.scoring.entry_script.scorer:EntryScriptScorer"

# model file suffix -> scorer that serves such a file without an entry script
MODEL_FILE_SCORERS: dict[str, str] = {
    ".onnx": "shipyard.scoring.onnx.scorer:OnnxScorer",
    ".pt": "shipyard.scoring.torch:TorchScorer", ".pt2": "shipyard.scoring.torch:TorchScorer",
}

_LISTED_FILES = 20  # how many files an error message names


def import_scorer(target: str) -> type[Scorer]:
    """Resolve ``"package.module:Class"``.

    Raises:
        ModelLoadError: the module (or a library it needs, such as onnxruntime) is not installed.
    """
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(
            f"cannot import scorer {target}: {exc}; install the missing package: for ONNX models "
            f"{install_hint('onnx')}, for .pt/.pt2 files {install_hint('torch')} (in an image: list it in the "
            "spec's environment)"
        ) from exc
    return getattr(module, class_name)


def model_files(model_dir: Path) -> list[Path]:
    """Files under ``model_dir`` (recursively, hidden folders skipped) whose suffix has a scorer."""
    found = []
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in MODEL_FILE_SCORERS:
            found.append(path)
    return found


def _describe_folder(model_dir: Path) -> str:
    names = sorted(
        str(path.relative_to(model_dir)) for path in model_dir.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(model_dir).parts)
    )
    if not names:
        return "it is empty"
    shown = ", ".join(names[:_LISTED_FILES])
    more = f" and {len(names) - _LISTED_FILES} more" if len(names) > _LISTED_FILES else ""
    return f"it holds {shown}{more}"


def choose_scorer(info: ModelInfo) -> type[Scorer]:
    """The scorer class for ``info``, without loading anything.

    Raises:
        ModelLoadError: nothing fits; the message says what the folder holds and what is expected.
    """
    if info.entry_script is not None:
        return import_scorer(ENTRY_SCRIPT_SCORER)
    model_dir = Path(info.model_dir)
    if not model_dir.is_dir():
        raise ModelLoadError(
            f"model folder {model_dir} does not exist; set {info.named('model_dir')} to the "
            "folder that holds your model files"
        )
    expected = ", ".join(sorted(MODEL_FILE_SCORERS))
    files = model_files(model_dir)
    if not files:
        raise ModelLoadError(
            f"no entry script given and no servable model file in {model_dir} ({_describe_folder(model_dir)}); "
            f"pass a score.py with init()/run() ({info.named('entry_script')}), or put exactly one model file "
            f"with one of these suffixes in the folder: {expected}"
        )
    if len(files) > 1:
        names = ", ".join(str(path.relative_to(model_dir)) for path in files)
        raise ModelLoadError(
            f"no entry script given and {len(files)} model files in {model_dir} ({names}); keep exactly one, "
            f"or pass a score.py ({info.named('entry_script')}) that loads the ones it needs"
        )
    return import_scorer(MODEL_FILE_SCORERS[files[0].suffix.lower()])


def create_scorer(info: ModelInfo) -> Scorer:
    """The right scorer for ``info``, not yet loaded (the runtime may load it in another thread)."""
    scorer_class = choose_scorer(info)
    logger.info("Model %s %s is served by %s", info.name, info.version, scorer_class.__name__)
    return scorer_class(info)


def load_scorer(info: ModelInfo) -> Scorer:
    """Create the right scorer for ``info`` and load it (entry script: import + ``init()``).

    Raises:
        ModelLoadError: nothing fits the model folder, or loading failed; the message says why.
    """
    scorer = create_scorer(info)
    scorer.load()
    return scorer
