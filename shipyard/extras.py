"""Shipyard's optional parts (pyproject's extras), and the one way a message says how to add one.

A plain ``pip install shipyard`` builds, deploys and serves entry scripts; serving ``.onnx`` or
PyTorch files directly needs a large library that not every user wants. Every error that meets a
missing optional library names the extra through :func:`install_hint`, so the advice is the same
wherever it appears (``serve``, ``export-triton``...), and the README's extras table is checked
against :data:`EXTRAS` and pyproject.toml by the docs tests.
"""

from __future__ import annotations

EXTRAS: dict[str, str] = {
    "onnx": "serving .onnx models without a score.py, and `shipyard export-triton` (onnxruntime)",
    "torch": "serving TorchScript `.pt` and `torch.export` `.pt2` files without a score.py (PyTorch)",
    "test": "running the test suite (pytest, tritonclient, scikit-learn, skl2onnx, onnxruntime, ...)",
    "fast": "nothing any more: uvloop and httptools are regular dependencies (kept so old install lines work)",
}
"""Each extra and what it enables."""


def install_hint(extra: str) -> str:
    """The command that adds *extra* to this installation: ``pip install 'shipyard[onnx]'``.

    Raises:
        KeyError: *extra* is not one of :data:`EXTRAS` (a typo in Shipyard, caught by the tests).
    """
    if extra not in EXTRAS:
        raise KeyError(f"no extra named {extra!r}; the extras are {sorted(EXTRAS)}")
    return f"pip install 'shipyard[{extra}]'"
