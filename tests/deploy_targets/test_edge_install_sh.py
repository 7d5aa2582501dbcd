"""The edge bundle's ``install.sh`` as an operator meets it: ``--help``, a mistyped option, and what
it announces before it changes anything.

``--help`` and unknown arguments must not touch Docker at all: they run with a ``docker`` first on
PATH that only records being called (the probe for "not called"). The install itself runs against
the real engine, with a ``docker`` that reports each call and then runs the real one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import docker
import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from tests.fixtures.servers import free_port

SHELLS = [shell for shell in ("dash", "bash", "busybox") if shutil.which(shell)]


def _docker_shim(folder: Path, then: str) -> Path:
    """A folder holding a ``docker`` that notes each call in ``folder/calls`` and runs *then*."""
    folder.mkdir()
    shim = folder / "docker"
    shim.write_text(f'#!/bin/sh\nprintf "[docker %s]\\n" "$1" >> "{folder}/calls"\n{then}\n')
    shim.chmod(0o755)
    return folder


@pytest.mark.parametrize("shell", SHELLS)
def test_help_prints_usage_and_never_calls_docker(tmp_path: Path, shell: str) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    script = bundle / "install.sh"
    script.write_text(resources.files("shipyard.templates.edge").joinpath("install.sh").read_text())
    recorder = _docker_shim(tmp_path / "bin", "exit 0")
    env = {**os.environ, "PATH": f"{recorder}:{os.environ['PATH']}"}
    for flag in ("--help", "-h"):
        result = subprocess.run([shell, str(script), flag], capture_output=True, text=True, env=env, timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage: sh install.sh [--verify | --help]")
        assert "--verify   only check the bundle's files; change nothing" in result.stdout
    assert not (recorder / "calls").exists()
    assert sorted(path.name for path in bundle.iterdir()) == ["install.sh"]  # wrote nothing


@pytest.mark.parametrize("arguments", [["--yes"], ["--verify", "--force"], ["install"]])
def test_an_unknown_argument_is_refused_before_anything_happens(tmp_path: Path, arguments: list[str]) -> None:
    script = tmp_path / "install.sh"
    script.write_text(resources.files("shipyard.templates.edge").joinpath("install.sh").read_text())
    recorder = _docker_shim(tmp_path / "bin", "exit 0")
    result = subprocess.run(["sh", str(script), *arguments], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PATH": f"{recorder}:{os.environ['PATH']}"})
    assert result.returncode == 2
    unknown = next(argument for argument in arguments if argument != "--verify")
    assert result.stderr == (f"shipyard-install: error: unknown argument '{unknown}'; nothing was changed. "
                             "Usage: sh install.sh [--verify | --help]\n")
    assert not (recorder / "calls").exists()


@pytest.mark.docker
@pytest.mark.slow
def test_install_says_what_it_will_change_before_the_first_change(docker_base_image: str, tmp_path: Path) -> None:
    """A real install of a bundle whose image never gets ready: announced, loaded, rolled back."""
    name = f"sy-install-announce-{os.getpid()}"
    bundle = tmp_path / "bundle"
    written = CliRunner().invoke(app, ["deploy", docker_base_image, "--target", "edge", "--name", name,
                                       "--output", str(bundle), "--port", str(free_port()), "--json"])
    assert written.exit_code == 0, written.output
    real = shutil.which("docker")
    assert real, "the docker CLI is needed for this test"
    reporter = _docker_shim(tmp_path / "bin", f'exec {real} "$@"')
    transcript = reporter / "calls"  # install.sh's messages and the docker calls, in the order they happened
    try:
        with open(transcript, "a") as stderr:
            result = subprocess.run(["sh", str(bundle / "install.sh")], stderr=stderr, text=True, timeout=300,
                                    env={**os.environ, "PATH": f"{reporter}:{os.environ['PATH']}",
                                         "SHIPYARD_HEALTH_TIMEOUT_S": "4"})
        lines = transcript.read_text().splitlines()
        announced = next(index for index, line in enumerate(lines) if "shipyard-install: about to change" in line)
        assert f"load {docker_base_image}, create the container '{name}'" in lines[announced]
        changes = [index for index, line in enumerate(lines)
                   if line in ("[docker load]", "[docker run]", "[docker rename]", "[docker rm]", "[docker stop]")]
        assert changes and announced < changes[0], lines
        assert result.returncode == 1 and "rolled back" in lines[-1]  # a bare base image never gets ready
    finally:
        try:
            docker.from_env().containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
