"""Errors that say what the user probably meant: target names, and image tags the engine has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli import app


def test_k8s_is_kubernetes_and_a_mistyped_target_gets_a_suggestion(tmp_path: Path) -> None:
    written = CliRunner().invoke(app, ["deploy", "registry.example.com/iris:1", "--name", "iris", "--target", "k8s",
                                       "--replicas", "2", "--output", str(tmp_path)])
    assert written.exit_code == 0, written.output
    assert (tmp_path / "deployment.yaml").is_file() and "replicas: 2" in (tmp_path / "deployment.yaml").read_text()
    wrong = subprocess.run([sys.executable, "-m", "shipyard", "deploy", "iris:1", "--name", "iris",
                            "--target", "kubernets", "--output", str(tmp_path / "x")],
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2
    assert "unknown deploy target 'kubernets'; did you mean 'kubernetes'? available: container, kubernetes, edge " \
           "(k8s = kubernetes)" in wrong.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.docker
def test_a_mistyped_image_tag_names_the_tag_the_engine_has(docker_base_image: str, tmp_path: Path) -> None:
    typo = docker_base_image[:-1] + "x"  # shipyard-test-base:bookworx
    for target in ("container", "edge"):
        extra = ["--output", str(tmp_path / target)] if target == "edge" else []
        result = subprocess.run([sys.executable, "-m", "shipyard", "deploy", typo, "--name", "typo-check",
                                 "--target", target, *extra], capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert f"Did you mean '{docker_base_image}'" in result.stderr, result.stderr
        assert "shipyard build-image" in result.stderr and "shipyard build " not in result.stderr


@pytest.mark.docker
def test_a_mistyped_base_image_names_the_tag_the_engine_has(docker_base_image: str, example_dir: Path) -> None:
    typo = docker_base_image.replace("base", "bsae")
    result = subprocess.run([sys.executable, "-m", "shipyard", "build-image", str(example_dir), "--tag", "typo:1",
                             "--base-image", typo], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"base image {typo} is not in the Docker Engine" in result.stderr
    # the closest tag first; others the engine holds (the edge tests' arm64 base) may follow it
    assert f"Did you mean '{docker_base_image}'" in result.stderr, result.stderr
    assert "(on this engine)?" in result.stderr


def test_an_invalid_option_value_is_named_as_the_flag_given(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "shipyard", "deploy", "iris:1", "--name", "iris", "--target",
                             "kubernetes", "--target-utilization", "500", "--output", str(tmp_path / "k8s")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: invalid options for target 'kubernetes': --target-utilization: "
                                     "Input should be less than or equal to 100 (got 500)")
    assert not (tmp_path / "k8s").exists()
