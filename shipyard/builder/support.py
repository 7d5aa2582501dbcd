"""What Shipyard can build on: base images, CUDA versions, platforms, runtime dependencies.

Support matrices are data, validated once, so errors can list the supported values and other
parts (the edge and accelerator targets) can read the same table instead of re-listing it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shipyard.errors import SpecError

Platform = Literal["linux/amd64", "linux/arm64"]
PLATFORMS: tuple[Platform, ...] = ("linux/amd64", "linux/arm64")

#: Debian architecture name for each platform (debootstrap --arch).
DEBIAN_ARCH: dict[str, str] = {"linux/amd64": "amd64", "linux/arm64": "arm64"}


class CudaBase(BaseModel):
    """A default CUDA base image and the Python its distribution ships."""

    model_config = ConfigDict(frozen=True)

    cuda: str
    image: str
    python: str
    distro: str


CUDA_BASES: tuple[CudaBase, ...] = (
    CudaBase(cuda="11.8", image="nvidia/cuda:11.8.0-runtime-ubuntu22.04", python="3.10", distro="ubuntu22.04"),
    CudaBase(cuda="12.1", image="nvidia/cuda:12.1.1-runtime-ubuntu22.04", python="3.10", distro="ubuntu22.04"),
    CudaBase(cuda="12.2", image="nvidia/cuda:12.2.2-runtime-ubuntu22.04", python="3.10", distro="ubuntu22.04"),
    CudaBase(cuda="12.4", image="nvidia/cuda:12.4.1-runtime-ubuntu22.04", python="3.10", distro="ubuntu22.04"),
    CudaBase(cuda="12.6", image="nvidia/cuda:12.6.3-runtime-ubuntu24.04", python="3.12", distro="ubuntu24.04"),
    CudaBase(cuda="12.8", image="nvidia/cuda:12.8.1-runtime-ubuntu24.04", python="3.12", distro="ubuntu24.04"),
)


def cuda_base(version: str) -> CudaBase:
    """The default base image for CUDA *version* (``"12.4"``).

    Raises:
        SpecError: the version is not in the table; the message lists the supported ones.
    """
    for entry in CUDA_BASES:
        if entry.cuda == version:
            return entry
    supported = ", ".join(entry.cuda for entry in CUDA_BASES)
    raise SpecError(f"no default CUDA base image for CUDA {version} (supported: {supported}); "
                    "name a CUDA-capable image with base_image", field="gpu.cuda")


def default_base_image(python: str | None) -> str:
    """The CPU base image used when a spec names none: the official slim Python image."""
    return f"python:{python or '3.11'}-slim-bookworm"


#: The oldest Python Shipyard's runtime runs on (pyproject.toml's requires-python; a test keeps them equal).
MIN_PYTHON = (3, 10)


def check_python_supported(version: str, *, entry: str, file: str | None, field: str, line: int | None,
                           fix: str | None = None) -> None:
    """Refuse a Python version older than the runtime supports, before anything is rendered.

    Azure ML v1 environments often pin ``python=3.6``-``3.8``. Rendered as is, such an image fails
    only deep in its build (or at start); say so at once, naming the entry to change.

    Raises:
        SpecError: naming *entry* (``python=3.8``), its file and line, and the fix.
    """
    major, _, minor = version.partition(".")
    if not (major.isdigit() and minor.isdigit()) or (int(major), int(minor)) >= MIN_PYTHON:
        return
    oldest = ".".join(map(str, MIN_PYTHON))
    fix = fix or (f"change it to python={oldest} or newer (for example python=3.11), and move version pins "
                  "that have no wheels for that Python to versions that do")
    raise SpecError(f"'{entry}' asks for Python {version}, but Shipyard's runtime needs Python {oldest} or newer; {fix}",
                    file=file, field=field, line=line)


def check_platform(platform: str | None) -> str | None:
    """Validate a ``--platform`` value.

    Raises:
        SpecError: listing the supported platforms.
    """
    if platform is not None and platform not in PLATFORMS:
        raise SpecError(f"unsupported platform '{platform}' (supported: {', '.join(PLATFORMS)})",
                        field="platform")
    return platform


@cache
def _requirement_file(name: str) -> tuple[str, ...]:
    text = resources.files("shipyard.runtime").joinpath(name).read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def runtime_requirements(*, onnx: bool = False, gpu: bool = False) -> list[str]:
    """What the image needs to run ``python -m shipyard.runtime``.

    The list lives in ``shipyard/runtime/requirements.txt`` (and ``requirements-onnx.txt`` for
    ONNX models served without a score.py); this is the only reader.
    """
    requirements = list(_requirement_file("requirements.txt"))
    if onnx:
        extra = _requirement_file("requirements-onnx.txt")
        requirements += [line.replace("onnxruntime", "onnxruntime-gpu", 1) if gpu else line for line in extra]
    return requirements
