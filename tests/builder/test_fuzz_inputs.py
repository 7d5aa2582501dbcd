"""Any input to the spec loader or the environment parser gives a result or a located SpecError.

Hypothesis writes spec files, conda environments and requirements files (structured ones near
the real grammar, and raw text with YAML's and pip's special characters) and checks that each
either loads or raises :class:`SpecError` naming the file and line: never another exception,
and nothing with a line break reaches the files the build reads. Bounded (``max_examples``) so
the module adds a few seconds to CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipyard.builder import load_spec, plan_build, render_dockerfile
from shipyard.builder._fields import CONTROL, RESERVED_ENV
from shipyard.builder.environment import load_environment
from shipyard.errors import SpecError

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters that mean something to YAML, pip, shells or Dockerfiles, plus line breaks of every kind.
SPECIAL = "\n\r\t \x00\x0b\x0c\x1c\x85\u2028:-[]{}&*!|>'\"%@`#,?=;<$\\/.~+^"
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
    st.text(alphabet=st.sampled_from("abcxyz019._-/" + SPECIAL), max_size=30),
    st.sampled_from(["model.pkl", "score.py", "environment.yml", "requirements.txt", "../x", "/etc/passwd",
                     "python=3.8", "python=3.11", "numpy=1.26", "-r reqs.txt", "-e .", "--index-url http://x",
                     "SHIPYARD_API_KEYS", "git+https://x/y.git", "wheels/a-1.0-py3-none-any.whl", "3.11", "12.4"]))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.one_of(st.text(max_size=10), scalars), children, max_size=4)),
    max_leaves=12)
SPEC_KEYS = ["name", "version", "models", "entry_script", "source_dir", "environment", "base_image", "python",
             "system_packages", "env", "port", "labels", "gpu", "execution_providers", "strict_providers", "build"]
YAML_TEXT = st.text(alphabet=st.sampled_from("abc019 " + SPECIAL), max_size=200)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A spec folder with the files the generated specs name (examples overwrite the file under test)."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "model.pkl").write_bytes(b"model")
    (root / "score.py").write_text("def init():\n    pass\n\n\ndef run(data):\n    return data\n")
    (root / "environment.yml").write_text("dependencies: [python=3.11, numpy]\n")
    (root / "requirements.txt").write_text("numpy\n")
    (root / "reqs.txt").write_text("joblib\n")
    (root / "wheels").mkdir()
    (root / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"wheel")
    return root


def assert_located(error: SpecError, path: Path) -> None:
    assert error.file is not None and Path(error.file).name == path.name, error
    assert error.line is not None, f"no line in: {error}"


def check_spec(root: Path, text: str) -> None:
    path = root / "shipyard.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        spec = load_spec(path)
    except SpecError as error:
        assert_located(error, path)
        return
    try:
        dockerfile = render_dockerfile(plan_build(spec, base_image="shipyard-base:bookworm"))
    except SpecError as error:
        assert error.file is not None, error
        return
    # Every line is an instruction, a continuation or a comment: nothing from the spec started a line.
    assert not CONTROL.search(dockerfile.replace("\n", ""))


@FUZZ
@given(st.dictionaries(st.sampled_from(SPEC_KEYS), values, max_size=8))
def test_structured_specs_load_or_fail_with_a_location(root, data):
    base = {"name": "iris", "models": ["model.pkl"], "entry_script": "score.py"}
    check_spec(root, yaml.safe_dump({**base, **data}, allow_unicode=True))


@FUZZ
@given(YAML_TEXT)
def test_raw_text_specs_load_or_fail_with_a_location(root, text):
    check_spec(root, text)


@FUZZ
@given(st.lists(values, max_size=6), st.one_of(st.none(), values), st.one_of(st.none(), values))
def test_conda_environments_load_or_fail_with_a_location(root, dependencies, pip, variables):
    path = root / "environment.yml"
    document: dict[str, object] = {"name": "env", "dependencies": [*dependencies, {"pip": pip}]}
    if variables is not None:
        document["variables"] = variables
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    check_environment(path, root)


@FUZZ
@given(st.lists(st.one_of(st.text(alphabet=st.sampled_from("abc019 " + SPECIAL), max_size=40), scalars.filter(
    lambda value: isinstance(value, str))), max_size=8))
def test_requirements_files_load_or_fail_with_a_location(root, lines):
    path = root / "requirements.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    check_environment(path, root)


def check_environment(path: Path, root: Path) -> None:
    try:
        environment = load_environment(path, root=root)
    except SpecError as error:
        assert_located(error, path if error.file == str(path) else Path(error.file or ""))
        return
    for line in environment.requirements:  # each is one line of the context's requirements.txt
        assert not CONTROL.search(line), line
    assert not set(environment.env) & set(RESERVED_ENV)
    for key, value in environment.env.items():
        assert not CONTROL.search(key + value)
