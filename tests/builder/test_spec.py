"""The deployment spec: valid specs load, and bad ones stop with file, field, line and reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.builder import load_spec, spec_json_schema
from shipyard.errors import SpecError

REPO = Path(__file__).resolve().parents[2]


def test_a_minimal_spec_resolves_paths_against_its_folder(make_spec, tmp_path):
    spec = make_spec()
    assert spec.name == "iris"
    assert spec.models == [tmp_path / "model" / "model.pkl"]
    assert spec.entry_script == tmp_path / "score.py"
    assert spec.port == 5001 and spec.version == "1"
    assert spec.file == tmp_path / "shipyard.yaml"


def test_a_folder_argument_means_its_shipyard_yaml(make_spec, tmp_path):
    make_spec()
    assert load_spec(tmp_path / "shipyard.yaml").name == load_spec(tmp_path).name == "iris"


def test_an_unknown_field_is_named_with_its_line_and_a_suggestion(make_spec):
    with pytest.raises(SpecError) as caught:
        make_spec("name: iris\nmodels: [model/model.pkl]\nentry_script: score.py\nenviroment: environment.yml\n")
    error = caught.value
    assert (error.field, error.line) == ("enviroment", 4)
    assert "unknown field 'enviroment'" in str(error) and "did you mean 'environment'" in str(error)
    assert str(error).startswith(str(error.file))


def test_a_missing_model_file_is_refused(make_spec):
    with pytest.raises(SpecError, match="'model/missing.pkl' does not exist") as caught:
        make_spec("name: iris\nmodels:\n  - model/missing.pkl\nentry_script: score.py\n")
    assert (caught.value.field, caught.value.line) == ("models.0", 3)


def test_paths_may_not_leave_the_spec_folder(make_spec, tmp_path):
    (tmp_path.parent / "outside.pkl").write_bytes(b"x")
    with pytest.raises(SpecError, match="outside the spec's folder") as caught:
        make_spec("name: iris\nmodels: [../outside.pkl]\nentry_script: score.py\n")
    assert caught.value.field == "models.0"


@pytest.mark.parametrize(("snippet", "field"), [
    ("system_packages: ['curl; rm -rf /']", "system_packages.0"),
    ("system_packages: ['$(reboot)']", "system_packages.0"),
    ("env: {GREETING: \"hi\\nRUN rm -rf /\"}", "env.GREETING"),
    ("env: {'BAD NAME': x}", "env.BAD NAME.[key]"),
    ("labels: {team: \"a\\nUSER root\"}", "labels.team"),
    ("base_image: 'python:3.11 AS x\\nRUN id'", "base_image"),
    ("base_image: 'python:3.11; rm -rf /'", "base_image"),
    ("build: {pip: {index_url: 'https://x/simple; rm -rf /'}}", "build.pip.index_url"),
])
def test_values_that_would_inject_into_the_dockerfile_are_refused(make_spec, snippet, field):
    with pytest.raises(SpecError) as caught:
        make_spec(f"name: iris\nmodels: [model/model.pkl]\nentry_script: score.py\n{snippet}\n")
    assert caught.value.field == field
    assert caught.value.line == 4


def test_secrets_and_settings_owned_by_other_fields_cannot_be_baked_in(make_spec):
    with pytest.raises(SpecError, match="SHIPYARD_API_KEYS cannot be set here.*never in an image"):
        make_spec("name: iris\nmodels: [model/model.pkl]\nentry_script: score.py\nenv: {SHIPYARD_API_KEYS: k}\n")
    with pytest.raises(SpecError, match="SHIPYARD_API_KEYS_FILE cannot be set here"):
        make_spec("name: iris\nmodels: [model/model.pkl]\nentry_script: score.py\n"
                  "env: {SHIPYARD_API_KEYS_FILE: /tmp/keys}\n")


def test_an_entry_script_is_required_unless_the_model_is_onnx(make_spec, tmp_path):
    with pytest.raises(SpecError, match="entry_script is required"):
        make_spec("name: iris\nmodels: [model/model.pkl]\n")
    spec = make_spec("name: iris\nmodels: [model.onnx]\n", files={"model.onnx": "onnx bytes"})
    assert spec.serves_onnx_directly


def test_duplicate_keys_are_an_error_not_a_silent_override(make_spec):
    with pytest.raises(SpecError, match="key 'name' appears twice") as caught:
        make_spec("name: iris\nname: other\nmodels: [model/model.pkl]\nentry_script: score.py\n")
    assert caught.value.line == 2


def test_the_published_json_schema_matches_the_model():
    published = json.loads((REPO / "docs" / "shipyard.schema.json").read_text())
    assert published == spec_json_schema(), "regenerate: shipyard spec-schema > docs/shipyard.schema.json"


def test_the_examples_are_valid(example_dir):
    assert load_spec(example_dir).name == "iris"
    assert load_spec(example_dir / "shipyard-onnx.yaml").serves_onnx_directly


# A 9 x 9 x ... alias tree: a few hundred bytes that are 9**9 (387 million) strings once expanded.
BILLION_LAUGHS = "name: iris\n" + 'lol0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"lol{i}: &l{i} [{','.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)) + "models: [*l8]\n"


@pytest.mark.parametrize(("text", "message", "line"), [
    (BILLION_LAUGHS, "more than 20000 values once its aliases", 6),
    ("name: iris\nmodels: &m [model/model.pkl, *m]\n", r"the alias \*m refers to a collection that contains it", 2),
    ("name: iris\nmodels: " + "[" * 5000 + "]" * 5000 + "\n", "nest more than 64 levels deep", 2),
    ("name: iris\nmodels:\n" + "".join("  " * depth + "- \n" for depth in range(1, 200)), "nest more than 64", 66),
    ("name: iris\nmodels: *nowhere\n", "found undefined alias 'nowhere'", 2),
    ("name: iris\nversion: 2024-02-30\n", "cannot read the value '2024-02-30'", 2),
    ("name: iris\nport: " + "9" * 5000 + "\n", "Exceeds the limit", 2),
    ("name: iris\n---\nname: other\n", "expected a single document", 2),
    ("name: iris\x01\n", "the character '\\\\x01' is not allowed in YAML", 1),
])
def test_hostile_yaml_is_a_spec_error_with_its_line_not_a_traceback(make_spec, tmp_path, text, message, line):
    make_spec()
    (tmp_path / "shipyard.yaml").write_text(text)
    with pytest.raises(SpecError, match=message) as caught:
        load_spec(tmp_path)
    assert (caught.value.file, caught.value.line) == (str(tmp_path / "shipyard.yaml"), line)


def test_the_billion_laughs_stops_early_in_the_real_cli(make_spec, tmp_path):
    # Reported: 523 bytes of nested aliases drove render-dockerfile to 4.4 GB of RSS.
    make_spec()
    (tmp_path / "shipyard.yaml").write_text(BILLION_LAUGHS)
    # The peak is the child's own VmHWM: getrusage's ru_maxrss carries the *parent's* peak across
    # the exec (Linux records the old address space's high-water mark), so late in a large pytest
    # session it would report pytest's size, not the CLI's.
    probe = ("import sys\nfrom shipyard.cli import main\nsys.argv = ['shipyard', 'render-dockerfile', "
             f"{str(tmp_path)!r}]\ntry:\n    main()\nfinally:\n    peak = [l.split()[1] for l in open('/proc/self/status') "
             "if l.startswith('VmHWM:')][0]\n    print('maxrss_kib', peak, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "shipyard.yaml:6: the document has more than 20000 values" in done.stderr
    assert "Traceback" not in done.stderr
    assert int(done.stderr.rsplit("maxrss_kib", 1)[1]) < 300 * 1024


def test_a_non_utf8_spec_is_a_spec_error_with_its_line(make_spec, tmp_path):
    make_spec()
    (tmp_path / "shipyard.yaml").write_bytes(b"name: iris\nversion: caf\xe9\n")
    with pytest.raises(SpecError, match="not UTF-8 text") as caught:
        load_spec(tmp_path)
    assert caught.value.line == 2
