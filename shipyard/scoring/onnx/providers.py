"""ONNX Runtime execution providers: Shipyard's short names, ordering, CPU fallback, strict mode.

Users and deploy targets say ``CUDA`` or ``OpenVINO``; onnxruntime wants ``CUDAExecutionProvider``.
The requested order is kept, unavailable providers are dropped with a warning (or, in strict mode,
the first choice being unavailable is an error), and the CPU provider always comes last so a
model still runs when an accelerator is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from shipyard.errors import ModelLoadError

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"

PROVIDERS: dict[str, str] = {
    "CUDA": "CUDAExecutionProvider",
    "TensorRT": "TensorrtExecutionProvider",
    "OpenVINO": "OpenVINOExecutionProvider",
    "ROCm": "ROCMExecutionProvider",
    "MIGraphX": "MIGraphXExecutionProvider",
    "VitisAI": "VitisAIExecutionProvider",
    "DirectML": "DmlExecutionProvider",
    "CoreML": "CoreMLExecutionProvider",
    "CPU": CPU,
}
_BY_LOWER = {**{short.lower(): full for short, full in PROVIDERS.items()},
             **{full.lower(): full for full in PROVIDERS.values()}}
_SHORT = {full: short for short, full in PROVIDERS.items()}

# with no preference: the first of these that this onnxruntime build offers, then the CPU
DEFAULT_PREFERENCE = ("CUDAExecutionProvider", "ROCMExecutionProvider")


def provider_name(name: str) -> str:
    """``"cuda"`` or ``"CUDAExecutionProvider"`` → ``"CUDAExecutionProvider"``.

    Raises:
        ModelLoadError: unknown name; the message lists the valid ones.
    """
    try:
        return _BY_LOWER[name.strip().lower()]
    except KeyError:
        raise ModelLoadError(
            f"unknown execution provider {name!r}; valid names: {', '.join(PROVIDERS)} "
            "(or onnxruntime's full names such as CUDAExecutionProvider)"
        ) from None


def short_name(provider: str) -> str:
    """``"CUDAExecutionProvider"`` → ``"CUDA"`` (unknown names are returned unchanged)."""
    return _SHORT.get(provider, provider)


def choose_providers(requested: Sequence[str], available: Iterable[str], strict: bool = False) -> list[str]:
    """The providers to give ``InferenceSession``, best first, CPU last.

    Args:
        requested: preference order (short or full names); empty means CUDA or ROCm when present.
        available: what ``onnxruntime.get_available_providers()`` reports.
        strict: fail instead of falling back when the first choice is unavailable.

    Raises:
        ModelLoadError: an unknown name, or (strict) an unavailable first choice.
    """
    available = list(available)
    wanted = list(dict.fromkeys(provider_name(name) for name in requested))
    if not wanted:
        wanted = [next((p for p in DEFAULT_PREFERENCE if p in available), CPU)]
    if strict and wanted[0] not in available:
        raise ModelLoadError(
            f"execution provider {short_name(wanted[0])} ({wanted[0]}) is not available in this onnxruntime "
            f"build (available: {', '.join(available)}); install the matching onnxruntime package "
            "(onnxruntime-gpu for CUDA/TensorRT, onnxruntime-openvino, ...) or turn strict providers off"
        )
    chosen = []
    for provider in wanted:
        if provider in available:
            chosen.append(provider)
        else:
            logger.warning("Execution provider %s is not available here (available: %s); skipping it",
                           provider, ", ".join(available))
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen
