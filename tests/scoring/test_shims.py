"""Azure's raw-HTTP modules import without Azure packages, and never shadow real ones."""

from __future__ import annotations

import importlib
import sys

import pytest

from shipyard.scoring.entry_script import shims
from shipyard.scoring.entry_script.aml_request import AMLRequest, rawhttp
from shipyard.scoring.entry_script.aml_response import AMLResponse


def _forget_azure_modules() -> None:
    for name in [name for name in sys.modules if name.split(".")[0] in ("azureml", "azureml_inference_server_http")]:
        del sys.modules[name]


@pytest.fixture
def clean_imports():
    _forget_azure_modules()
    importlib.invalidate_caches()
    yield
    _forget_azure_modules()
    importlib.invalidate_caches()


@pytest.mark.parametrize("package", ["azureml.contrib.services", "azureml_inference_server_http.api"])
def test_both_azure_import_paths_resolve_to_shipyard(clean_imports, package):
    shims.install()

    request_module = importlib.import_module(f"{package}.aml_request")
    response_module = importlib.import_module(f"{package}.aml_response")

    assert request_module.AMLRequest is AMLRequest and request_module.rawhttp is rawhttp
    assert response_module.AMLResponse is AMLResponse
    assert shims.is_shim(request_module)


def test_finder_sits_last_and_installs_once():
    shims.install()
    shims.install()

    finders = [finder for finder in sys.meta_path if isinstance(finder, shims.ShimFinder)]
    assert len(finders) == 1 and sys.meta_path[-1] is finders[0]


def test_a_real_installed_package_wins(clean_imports, tmp_path, monkeypatch):
    services = tmp_path / "azureml" / "contrib" / "services"
    services.mkdir(parents=True)
    for folder in (tmp_path / "azureml", tmp_path / "azureml" / "contrib", services):
        (folder / "__init__.py").write_text("")
    (services / "aml_request.py").write_text("WHO = 'real package'\n_rawHttpRequested = False\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    shims.install()

    real = importlib.import_module("azureml.contrib.services.aml_request")

    assert real.WHO == "real package"
    assert not shims.is_shim(real)
    assert not shims.is_shim(sys.modules["azureml"])


def test_unrelated_azureml_modules_are_not_invented(clean_imports):
    shims.install()

    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("azureml.train")


REAL_REQUEST = '''
_rawHttpRequested = False

def rawhttp(func):
    global _rawHttpRequested
    _rawHttpRequested = True
    return func
'''
REAL_RESPONSE = '''
from werkzeug.wrappers import Response

class AMLResponse(Response):
    def __init__(self, message, status_code, response_headers={}, json_str=False, run_function_failed=False):
        super().__init__(message, status=status_code)
        self.headers["x-ms-run-function-failed"] = run_function_failed
        for header, value in response_headers.items():
            self.headers[header] = value
'''
SCRIPT = '''
from azureml.contrib.services.aml_request import rawhttp
from azureml.contrib.services.aml_response import AMLResponse

def init():
    pass

@rawhttp
def run(request):
    return AMLResponse(request.get_data()[::-1], 207, {"X-Real": "yes"}, run_function_failed=True)
'''


def test_scripts_using_the_real_packages_work_too(clean_imports, tmp_path, monkeypatch):
    pytest.importorskip("werkzeug")
    from shipyard.scoring import ModelInfo, load_scorer
    from tests.scoring.conftest import score_request

    services = tmp_path / "site" / "azureml" / "contrib" / "services"
    services.mkdir(parents=True)
    (services / "aml_request.py").write_text(REAL_REQUEST)  # namespace packages, like the real wheels
    (services / "aml_response.py").write_text(REAL_RESPONSE)
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "real_score.py").write_text(SCRIPT)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    script = tmp_path / "app" / "real_score.py"
    scorer = load_scorer(ModelInfo(name="m", version="1", model_dir=tmp_path, entry_script=script))
    response = scorer.score(score_request(b"abc"))

    assert not shims.is_shim(sys.modules["azureml.contrib.services.aml_request"])
    assert scorer.plan.mode == "raw"
    assert (response.status_code, response.body, response.run_function_failed) == (207, b"cba", True)
    assert response.headers == [("X-Real", "yes")]
