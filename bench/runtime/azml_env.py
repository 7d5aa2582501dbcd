"""azureml-inference-server-http in a venv of its own.

It pins flask, gunicorn, pydantic~=2.12 and OpenTelemetry; installed next to Shipyard it could
change the very packages Shipyard is measured with. Its venv gets the same onnxruntime and numpy
versions as ours, so the score.py does the same work under both servers.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

AZML_PACKAGE = "azureml-inference-server-http"


def ensure_azml_venv(path: Path, version: str | None) -> Path:
    """Create (or reuse) the venv at ``path`` with azmlinfsrv installed; return its ``bin`` folder."""
    bin_dir = path / "bin"
    wanted = [
        f"{AZML_PACKAGE}=={version}" if version else AZML_PACKAGE,
        f"onnxruntime=={metadata.version('onnxruntime')}",
        f"numpy=={metadata.version('numpy')}",
    ]
    if (bin_dir / "azmlinfsrv").exists() and (version is None or installed_version(bin_dir) == version):
        return bin_dir
    print(f"installing {', '.join(wanted)} into {path} (once) ...", file=sys.stderr, flush=True)
    if not (bin_dir / "python").exists():
        venv.EnvBuilder(with_pip=True).create(path)
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", *wanted], check=True)
    return bin_dir


def installed_version(bin_dir: Path) -> str:
    """The azureml-inference-server-http version inside the venv."""
    code = f"from importlib.metadata import version; print(version({AZML_PACKAGE!r}))"
    return subprocess.run(
        [str(bin_dir / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
