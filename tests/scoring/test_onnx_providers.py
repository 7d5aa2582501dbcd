"""Execution providers: short names, order, CPU fallback, strict mode, and what is reported."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("onnxruntime")

from shipyard.errors import ModelLoadError  # noqa: E402
from shipyard.scoring import ModelInfo, load_scorer  # noqa: E402
from shipyard.scoring.onnx.providers import choose_providers  # noqa: E402

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_short_names_map_to_onnxruntime_names_in_order_with_cpu_last():
    assert choose_providers(["TensorRT", "cuda"], GPU_BUILD) == GPU_BUILD
    assert choose_providers(["CPU", "CUDA"], GPU_BUILD) == ["CPUExecutionProvider", "CUDAExecutionProvider"]


def test_no_preference_picks_cuda_when_present():
    assert choose_providers([], GPU_BUILD) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers([], ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_unavailable_providers_are_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        chosen = choose_providers(["OpenVINO", "CUDA"], GPU_BUILD)

    assert chosen == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert "OpenVINOExecutionProvider is not available" in caplog.text


def test_unknown_provider_lists_valid_names():
    with pytest.raises(ModelLoadError, match=r"unknown execution provider 'Cudaa'; valid names: CUDA, TensorRT, "):
        choose_providers(["Cudaa"], GPU_BUILD)


def test_strict_mode_fails_when_cuda_is_missing_here(add_model_dir):
    info = ModelInfo(name="add", version="1", model_dir=add_model_dir, execution_providers=("CUDA",),
                     strict_providers=True)

    with pytest.raises(ModelLoadError) as caught:
        load_scorer(info)

    message = str(caught.value)
    assert "execution provider CUDA (CUDAExecutionProvider) is not available" in message
    assert "CPUExecutionProvider" in message and "onnxruntime-gpu" in message


def test_without_strict_mode_cuda_falls_back_to_cpu_and_says_so(add_model_dir, caplog):
    info = ModelInfo(name="add", version="1", model_dir=add_model_dir, execution_providers=("CUDA", "CPU"))

    with caplog.at_level(logging.INFO):
        scorer = load_scorer(info)

    assert scorer.metadata().extra["execution_providers"] == ["CPU"]
    assert "on CPUExecutionProvider" in caplog.text
