"""Accelerator choices in the spec become image settings; PyTorch files are served without a score.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.builder.plan import plan_build
from shipyard.builder.render import render_dockerfile
from shipyard.builder.spec import load_spec
from shipyard.errors import SpecError


def write_spec(folder: Path, text: str, model: str = "model.onnx") -> Path:
    (folder / model).write_bytes(b"not a real model: the plan only needs the file")
    (folder / "shipyard.yaml").write_text(text)
    return folder


def test_execution_providers_are_baked_into_the_image(tmp_path: Path):
    spec = load_spec(write_spec(tmp_path, "name: m\nmodels: [model.onnx]\n"
                                          "execution_providers: [TensorRT, CUDA, CPU]\nstrict_providers: true\n"))
    plan = plan_build(spec, base_image="python:3.11-slim-bookworm")
    assert plan.runtime_env["SHIPYARD_EXECUTION_PROVIDERS"] == "TensorRT,CUDA,CPU"
    assert plan.runtime_env["SHIPYARD_STRICT_PROVIDERS"] == "true"
    dockerfile = render_dockerfile(plan)
    assert 'SHIPYARD_EXECUTION_PROVIDERS="TensorRT,CUDA,CPU"' in dockerfile


def test_an_unknown_provider_is_refused_with_the_choices(tmp_path: Path):
    with pytest.raises(SpecError, match=r"execution_providers.*'CUDA', 'TensorRT'.*'VitisAI'"):
        load_spec(write_spec(tmp_path, "name: m\nmodels: [model.onnx]\nexecution_providers: [FPGA]\n"))


def test_providers_cannot_be_set_through_env(tmp_path: Path):
    with pytest.raises(SpecError, match="SHIPYARD_EXECUTION_PROVIDERS cannot be set here"):
        load_spec(write_spec(tmp_path, "name: m\nmodels: [model.onnx]\n"
                                       "env: {SHIPYARD_EXECUTION_PROVIDERS: CUDA}\n"))


@pytest.mark.parametrize("model", ["model.pt", "model.pt2"])
def test_a_pytorch_file_needs_no_entry_script_and_gets_no_onnxruntime(tmp_path: Path, model: str):
    spec = load_spec(write_spec(tmp_path, f"name: m\nmodels: [{model}]\n", model=model))
    plan = plan_build(spec, base_image="python:3.11-slim-bookworm")
    assert "SHIPYARD_ENTRY_SCRIPT" not in plan.runtime_env
    assert not any(req.startswith("onnxruntime") for req in plan.runtime_requirements)
