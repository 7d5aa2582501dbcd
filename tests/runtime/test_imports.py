"""Images install only the runtime's dependencies, so the runtime must never import the rest."""

from __future__ import annotations

import subprocess
import sys

BUILD_AND_DEPLOY_ONLY = ("typer", "docker", "jinja2", "kubernetes", "rich", "yaml", "httpx")


def test_the_runtime_imports_no_build_or_deploy_dependency() -> None:
    code = (
        "import sys\n"
        "import shipyard.runtime.__main__, shipyard.runtime.worker, shipyard.runtime.supervisor\n"
        "import shipyard.scoring.entry_script.scorer, shipyard.scoring.onnx.scorer\n"
        f"print(sorted(set({BUILD_AND_DEPLOY_ONLY!r}) & set(sys.modules)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]", completed.stdout
