"""The default install is the fast one: what an image installs to run the runtime is exactly what
``pip install shipyard`` brings, markers included (uvloop and httptools among them)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def _normalised(line: str) -> tuple[str, str, str]:
    req = Requirement(line)
    return req.name.lower(), str(req.specifier), str(req.marker or "")


def test_every_image_requirement_is_a_regular_dependency_with_the_same_marker():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dependencies = {_normalised(line) for line in project["dependencies"]}
    image_lines = [
        line.strip() for line in (ROOT / "shipyard/runtime/requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    missing = [line for line in image_lines if _normalised(line) not in dependencies]
    assert missing == []
    assert {"uvloop", "httptools"} <= {name for name, _, _ in dependencies}


def test_the_fast_extra_still_resolves_for_users_who_name_it():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["fast"] == []
