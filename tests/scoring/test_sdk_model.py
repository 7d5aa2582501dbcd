"""``Model.get_model_path`` finds models where a deployed SDK v1 service found them.

Each case lays out real folders as Azure did (``azureml-models/<name>/<version>/<file>``) and
checks the path azureml-core 1.61's ``Model._get_model_path_local`` returns for it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from shipyard.scoring.entry_script import shims
from shipyard.scoring.entry_script.sdk_model import Model, ModelNotFoundException, WebserviceException


@pytest.fixture
def app_root(tmp_path: Path, monkeypatch) -> Path:
    """An Azure-style app root as the working directory, AML_APP_ROOT pointing at it."""
    monkeypatch.setenv("AML_APP_ROOT", str(tmp_path))
    monkeypatch.delenv("AZUREML_MODEL_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def registered(root: Path, name: str, version: int, entry: str = "model.pkl", folder: bool = False) -> Path:
    """``root/azureml-models/name/version/entry``, a file or a folder, as Azure unpacked a registered model."""
    path = root / "azureml-models" / name / str(version) / entry
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder:
        path.mkdir()
        (path / "weights.bin").write_bytes(b"w")
    else:
        path.write_bytes(b"pickle")
    return path


def test_latest_version_is_the_highest_number_not_the_last_listed(app_root):
    registered(app_root, "iris", 2)
    latest = registered(app_root, "iris", 10)

    assert Model.get_model_path("iris") == str(latest)


def test_a_given_version_and_a_registered_folder(app_root):
    first = registered(app_root, "iris", 1)
    registered(app_root, "iris", 2)
    bert = registered(app_root, "bert", 3, entry="bert-base", folder=True)

    assert Model.get_model_path("iris", version=1) == str(first)
    assert Model.get_model_path(model_name="bert") == str(bert)


def test_models_dir_follows_aml_app_root_and_falls_back_to_the_working_directory(app_root, monkeypatch):
    (app_root / "local_model").mkdir()
    monkeypatch.setenv("AML_APP_ROOT", str(app_root / "elsewhere"))

    assert Model.get_model_path("local_model") == "local_model"  # azureml-core returns the name as given


def test_a_multi_model_azureml_model_dir_outside_the_app_root(app_root, tmp_path_factory, monkeypatch):
    other = tmp_path_factory.mktemp("mounted")
    wanted = registered(other, "resnet", 4, entry="resnet.onnx")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(other / "azureml-models"))

    assert Model.get_model_path("resnet", version=4) == str(wanted)


def test_one_model_answers_from_azureml_model_dir(app_root, tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("model")
    (folder / "model.onnx").write_bytes(b"onnx")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(folder))

    assert Model.get_model_path("whatever-it-was-registered-as") == str(folder / "model.onnx")
    (folder / "labels.txt").write_text("cat\ndog\n")
    assert Model.get_model_path("whatever-it-was-registered-as") == str(folder)  # several entries: the folder


def test_another_models_version_folder_does_not_answer_for_a_different_name(app_root, monkeypatch):
    iris = registered(app_root, "iris", 1)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(iris.parent))
    monkeypatch.setenv("AML_APP_ROOT", str(app_root / "not-here"))

    assert Model.get_model_path("iris") == str(iris)
    with pytest.raises(ModelNotFoundException, match="model 'bert' not found"):
        Model.get_model_path("bert")


def test_not_found_names_the_model_and_every_folder_searched(app_root):
    registered(app_root, "iris", 1)

    with pytest.raises(WebserviceException) as caught:  # a version given: azureml-core's WebserviceException
        Model.get_model_path("iris", version=7)

    message = str(caught.value)
    assert "model 'iris' version 7 not found" in message
    assert str(app_root / "azureml-models" / "iris" / "7") in message
    assert str(app_root / "iris") in message


def test_bad_arguments_fail_like_azureml_core(app_root):
    with pytest.raises(WebserviceException, match="version should be an int"):
        Model.get_model_path("iris", version="1")
    with pytest.raises(WebserviceException, match="model_name is None"):
        Model.get_model_path(None)
    with pytest.raises(ImportError, match="pip install azureml-core"):
        Model("workspace", name="iris")


@pytest.fixture
def clean_imports():
    def forget():
        for name in [name for name in sys.modules if name.split(".")[0] == "azureml"]:
            del sys.modules[name]

    forget()
    shims.install()
    yield
    forget()


def test_scripts_import_it_the_v1_ways(clean_imports, app_root):
    wanted = registered(app_root, "iris", 1)

    import azureml.core  # noqa: F401  (ONNX samples do exactly this)
    from azureml.core import Model as FromPackage
    from azureml.core.model import Model as FromModule
    from azureml.exceptions import WebserviceException as Imported

    assert FromPackage is FromModule is Model and Imported is WebserviceException
    assert FromModule.get_model_path("iris") == str(wanted)
    assert shims.is_shim(sys.modules["azureml.core"])


def test_the_rest_of_azureml_core_names_the_package_to_install(clean_imports):
    with pytest.raises(ImportError, match=r"azureml\.core\.Workspace .*pip install azureml-core"):
        from azureml.core import Workspace  # noqa: F401
    with pytest.raises(ImportError, match=r"InferenceConfig .*pip install azureml-core"):
        from azureml.core.model import InferenceConfig  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match=r"azureml\.core\.webservice.*pip install azureml-core"):
        importlib.import_module("azureml.core.webservice")
    assert not hasattr(importlib.import_module("azureml.core"), "__file__")  # probes still see AttributeError


def test_a_real_azureml_core_wins(clean_imports, tmp_path, monkeypatch):
    core = tmp_path / "azureml" / "core"
    core.mkdir(parents=True)
    (tmp_path / "azureml" / "__init__.py").write_text("")
    (core / "__init__.py").write_text("WHO = 'real azureml-core'\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    real = importlib.import_module("azureml.core")

    assert real.WHO == "real azureml-core" and not shims.is_shim(real)


def test_an_empty_version_folder_fails_like_azureml_core(app_root):
    (app_root / "azureml-models" / "iris" / "1").mkdir(parents=True)

    with pytest.raises(WebserviceException, match=r"can contain only 1 file or folder\. Found \[\]"):
        Model.get_model_path("iris")
