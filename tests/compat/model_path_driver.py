"""Calls ``Model.get_model_path`` for each case on stdin (JSON) and prints what it answered (JSON).

Run by tests/compat/test_model_path.py twice: with the real azureml-core, and with Shipyard's
stand-in (``--shipyard``). azureml-core reads ``AML_APP_ROOT`` once, at import, into
``MODELS_DIR``; the driver sets it again for each case, to the value an import would compute.
"""

import json
import os
import sys

if "--shipyard" in sys.argv:
    from shipyard.scoring.entry_script import shims

    shims.install()

import azureml.core.model as model_module  # noqa: E402
from azureml.core.model import Model  # noqa: E402

results = []
for case in json.load(sys.stdin):
    os.chdir(case["cwd"])
    if case["app_root"] is None:
        os.environ.pop("AML_APP_ROOT", None)
    else:
        os.environ["AML_APP_ROOT"] = case["app_root"]
    if "--shipyard" not in sys.argv:
        model_module.MODELS_DIR = os.path.join(os.environ.get("AML_APP_ROOT", ""), "azureml-models")
    try:
        results.append({"path": Model.get_model_path(*case["args"], **case["kwargs"])})
    except Exception as exc:  # the exception's class is part of the answer
        results.append({"error": type(exc).__name__})
json.dump(results, sys.stdout)
