"""Environments: Azure-style conda YAML and requirements.txt become pip lines and Debian packages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shipyard.builder.conda import parse_match_spec
from shipyard.builder.environment import load_environment
from shipyard.errors import SpecError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("conda", "pip"), [
    ("numpy", "numpy"),
    ("numpy=1.26", "numpy==1.26.*"),
    ("numpy==1.26.4", "numpy==1.26.4"),
    ("numpy>=1.2,<2", "numpy>=1.2,<2"),
    ("numpy 1.26.*", "numpy==1.26.*"),
    ("numpy 1.26.4 py311_0", "numpy==1.26.4"),
    ("numpy=1.26.4=py311h0", "numpy==1.26.4"),
    ("conda-forge::scikit-learn=1.9.1", "scikit-learn==1.9.1.*"),
])
def test_conda_version_syntax_is_translated_to_pip(conda, pip):
    dependency = parse_match_spec(conda)
    assert dependency.pip_requirement(dependency.name) == pip


def test_an_azure_environment_builds_unchanged(tmp_path, caplog):
    env_file = write(tmp_path, "environment.yml", """\
name: azure-env
channels: [conda-forge, defaults]
dependencies:
  - python=3.11
  - pip=23.0
  - libgcc-ng
  - pytorch=2.3
  - py-xgboost
  - ffmpeg
  - gxx
  - scikit-learn=1.9.1
  - pip:
      - azureml-defaults==1.55.0
      - azureml-inference-server-http
      - --extra-index-url https://pypi.example.com/simple
      - joblib>=1.3
variables:
  OMP_NUM_THREADS: "1"
""")
    with caplog.at_level(logging.INFO, logger="shipyard"):
        env = load_environment(env_file)
    assert env.python_version == "3.11"
    assert env.requirements == ["torch==2.3.*", "xgboost", "scikit-learn==1.9.1.*", "inference-schema",
                                "--extra-index-url https://pypi.example.com/simple", "joblib>=1.3"]
    assert env.system_packages == ["ffmpeg"]
    assert env.build_system_packages == ["build-essential"]
    assert env.env == {"OMP_NUM_THREADS": "1"}
    assert "Shipyard's runtime replaces it (keeping inference-schema)" in caplog.text
    assert "'pytorch' is 'torch' on PyPI" in caplog.text
    assert "environment.yml:13" in env.origins["inference-schema"]


def test_a_conda_only_package_stops_before_the_build_naming_it(tmp_path):
    env_file = write(tmp_path, "environment.yml", "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n")
    with pytest.raises(SpecError, match="conda package 'cudatoolkit' cannot be installed without conda") as caught:
        load_environment(env_file)
    assert (caught.value.field, caught.value.line) == ("dependencies[1]", 3)
    assert load_environment(env_file, gpu=True).requirements == []  # a CUDA image provides it


def test_conda_syntax_pip_cannot_express_is_refused_with_its_line(tmp_path):
    env_file = write(tmp_path, "environment.yml", "dependencies:\n  - numpy 1.2|1.3\n")
    with pytest.raises(SpecError, match=r"alternatives \('\|'\)") as caught:
        load_environment(env_file)
    assert caught.value.line == 2


def test_requirements_txt_with_includes_options_and_local_wheels(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "internal_lib-1.0-py3-none-any.whl").write_bytes(b"wheel")
    write(tmp_path, "base.txt", "numpy>=1.24  # shared\n")
    requirements = write(tmp_path, "requirements.txt", """\
# model deps
-r base.txt
--index-url https://pypi.example.com/simple
--extra-index-url=https://mirror.example.com/simple?token=abc
scikit-learn==1.9.1 ; python_version >= "3.10"
wheels/internal_lib-1.0-py3-none-any.whl
azureml-defaults
""")
    env = load_environment(requirements)
    assert env.requirements == ["numpy>=1.24", "--index-url https://pypi.example.com/simple",
                                "--extra-index-url https://mirror.example.com/simple?token=abc",
                                'scikit-learn==1.9.1 ; python_version >= "3.10"',
                                "./wheels/internal_lib-1.0-py3-none-any.whl", "inference-schema"]
    assert env.local_files == [tmp_path / "wheels" / "internal_lib-1.0-py3-none-any.whl"]


@pytest.mark.parametrize(("line", "message"), [
    ("-e .", "editable installs do not work in an image"),
    ("--user", "no such option: --user"),
    ("scikit learn", "is not a valid pip requirement"),
    ("../outside.whl", "outside the spec's folder"),
])
def test_requirement_lines_that_cannot_work_are_refused_with_their_line(tmp_path, line, message):
    root = tmp_path / "spec"
    root.mkdir()
    (tmp_path / "outside.whl").write_bytes(b"x")
    requirements = write(root, "requirements.txt", f"numpy\n{line}\n")
    with pytest.raises(SpecError, match=message) as caught:
        load_environment(requirements, root=root)
    assert caught.value.line == 2


def test_no_environment_means_runtime_dependencies_only():
    assert load_environment(None).requirements == []


def test_conda_variables_obey_the_same_rules_as_the_specs_env(tmp_path):
    # Baking SHIPYARD_API_KEYS into an image would leak a secret; SHIPYARD_MODEL_DIR/ENTRY_SCRIPT would
    # redirect the runtime. The spec's env: refuses them, and so must an environment's variables:.
    for name, line in (("SHIPYARD_API_KEYS", "k1"), ("SHIPYARD_ENTRY_SCRIPT", "/tmp/evil.py")):
        env_file = write(tmp_path, "environment.yml", f"dependencies: [numpy]\nvariables:\n  OMP: '1'\n  {name}: {line}\n")
        with pytest.raises(SpecError, match=f"{name} cannot be set here") as caught:
            load_environment(env_file)
        assert (caught.value.file, caught.value.line, caught.value.field) == (str(env_file), 4, f"variables.{name}")
    env_file = write(tmp_path, "environment.yml", "dependencies: [numpy]\nvariables:\n  'BAD NAME': x\n")
    with pytest.raises(SpecError, match="not a valid environment variable name") as caught:
        load_environment(env_file)
    assert caught.value.line == 3


@pytest.mark.parametrize("item", ['"numpy\\n--index-url http://evil.example/simple"', '"numpy\\u2028--pre"',
                                  '"numpy\\rRUN x"'])
def test_a_pip_entry_with_a_line_break_cannot_add_requirement_lines(tmp_path, item):
    env_file = write(tmp_path, "environment.yml", f"dependencies:\n  - pip:\n    - joblib\n    - {item}\n")
    with pytest.raises(SpecError, match="must not contain newlines or control characters") as caught:
        load_environment(env_file)
    assert caught.value.line == 4


@pytest.mark.parametrize("version", ["3.6", "3.8", "3.9"])
def test_a_python_older_than_the_runtime_supports_is_refused_at_render_naming_the_line(tmp_path, version):
    from shipyard.builder import load_spec, render_dockerfile

    (tmp_path / "model.pkl").write_bytes(b"x")
    (tmp_path / "score.py").write_text("def init():\n    pass\n\n\ndef run(data):\n    return data\n")
    write(tmp_path, "environment.yml", f"name: v1\ndependencies:\n  - python={version}.13\n  - pip:\n    - numpy\n")
    write(tmp_path, "shipyard.yaml", "name: m\nmodels: [model.pkl]\nentry_script: score.py\nenvironment: environment.yml\n")
    with pytest.raises(SpecError, match=rf"'python={version}.13' asks for Python {version}, but Shipyard's runtime "
                                        r"needs Python 3.10 or newer; change it to python=3.10 or newer") as caught:
        render_dockerfile(load_spec(tmp_path))
    assert (caught.value.file, caught.value.line) == (str(tmp_path / "environment.yml"), 3)


def test_the_oldest_supported_python_is_the_packages_requires_python():
    import tomllib

    from shipyard.builder.support import MIN_PYTHON

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["requires-python"] == ">=" + ".".join(map(str, MIN_PYTHON))
