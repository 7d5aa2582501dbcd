"""How conda dependencies become packages an image can install without conda.

Azure ML environments are conda YAML files, but solving conda environments is the slowest and
most fragile part of model images (Azure "Solving environment" timeouts, MLflow's
``ResolvePackageNotFound``) and conda channels are rarely mirrored on air-gapped sites, while a
PyPI mirror almost always is. So Shipyard installs conda dependencies from PyPI into a venv:

1. ``python=X.Y`` sets the image's Python version.
2. Conda's own tooling and the C runtime pieces conda ships (``pip``, ``libgcc-ng``,
   ``openssl``...) are dropped: the base image and manylinux wheels already provide them.
3. Packages published on PyPI under another name are renamed (``pytorch`` -> ``torch``).
4. Native tools Debian ships (``ffmpeg``, ``graphviz``) become system packages; compilers become
   build-only packages that stay out of the final image.
5. Packages that exist only on conda (``cudatoolkit`` without a GPU image, R) stop the build
   before it starts, naming the package and what to do instead.
6. Everything else is looked up on PyPI under the same name, with conda's version syntax
   translated to pip's (``numpy=1.26`` -> ``numpy==1.26.*``). A name PyPI does not know fails
   the pip step, and the build error names the conda entry it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement


@dataclass(frozen=True)
class CondaMapping:
    """What one conda package becomes. Exactly one field is set."""

    pypi: str | None = None
    apt: tuple[str, ...] = ()
    build_apt: tuple[str, ...] = ()
    drop: str | None = None
    unsupported: str | None = None


_TOOLING = "conda/pip tooling; the image's venv has its own"
_C_RUNTIME = "C runtime library conda ships; the base image and manylinux wheels provide it"
_BLAS = "BLAS selector; numpy/scipy wheels bundle OpenBLAS"
_WINDOWS = "Windows-only package"
_CUDA = ("CUDA libraries come from the CUDA base image (gpu: {cuda: ...}) and from the frameworks' "
         "pip wheels (torch, tensorflow bundle cuDNN/NCCL)")

CONDA_PACKAGES: dict[str, CondaMapping] = {
    **{name: CondaMapping(drop=_TOOLING) for name in (
        "pip", "setuptools", "wheel", "conda", "mamba", "python_abi", "cpuonly")},
    **{name: CondaMapping(drop=_C_RUNTIME) for name in (
        "_libgcc_mutex", "_openmp_mutex", "libgcc-ng", "libgcc", "libstdcxx-ng", "libstdcxx", "libgomp",
        "libgfortran-ng", "libgfortran5", "libgfortran", "ld_impl_linux-64", "libzlib", "zlib", "openssl",
        "ca-certificates", "libffi", "ncurses", "readline", "sqlite", "libsqlite", "tk", "tzdata", "xz",
        "liblzma", "bzip2", "libuuid", "libnsl", "libxcrypt", "expat", "libexpat", "jpeg", "libpng",
        "freetype", "libopencv")},
    **{name: CondaMapping(drop=_BLAS) for name in (
        "blas", "libblas", "libcblas", "liblapack", "libopenblas", "openblas", "nomkl")},
    **{name: CondaMapping(drop=_WINDOWS) for name in ("vc", "vs2015_runtime", "ucrt", "m2w64-toolchain")},
    "pytorch": CondaMapping(pypi="torch"),
    "pytorch-cpu": CondaMapping(pypi="torch"),
    "py-xgboost": CondaMapping(pypi="xgboost"),
    "py-xgboost-cpu": CondaMapping(pypi="xgboost"),
    "msgpack-python": CondaMapping(pypi="msgpack"),
    "pytables": CondaMapping(pypi="tables"),
    "matplotlib-base": CondaMapping(pypi="matplotlib"),
    "py-opencv": CondaMapping(pypi="opencv-python-headless"),
    "opencv": CondaMapping(pypi="opencv-python-headless"),
    "tensorflow-base": CondaMapping(pypi="tensorflow"),
    "python-graphviz": CondaMapping(pypi="graphviz"),
    "ruamel_yaml": CondaMapping(pypi="ruamel.yaml"),
    "pyqt": CondaMapping(pypi="PyQt5"),
    "ffmpeg": CondaMapping(apt=("ffmpeg",)),
    "graphviz": CondaMapping(apt=("graphviz",)),
    "git": CondaMapping(apt=("git",)),
    "curl": CondaMapping(apt=("curl",)),
    "libsndfile": CondaMapping(apt=("libsndfile1",)),
    "unixodbc": CondaMapping(apt=("unixodbc",)),
    **{name: CondaMapping(build_apt=("build-essential",)) for name in (
        "compilers", "c-compiler", "cxx-compiler", "gcc", "gxx", "gcc_linux-64", "gxx_linux-64", "make")},
    "cmake": CondaMapping(build_apt=("cmake",)),
    **{name: CondaMapping(unsupported=_CUDA) for name in (
        "cudatoolkit", "cuda-toolkit", "cuda-runtime", "cuda-cudart", "cudnn", "nccl", "cuda-nvcc",
        "pytorch-cuda")},
    "r-base": CondaMapping(unsupported="R is not supported: Shipyard images serve Python entry scripts"),
}

_CUDA_NAMES = {name for name, mapping in CONDA_PACKAGES.items() if mapping.unsupported == _CUDA}

_MATCH_SPEC = re.compile(r"(?:(?P<channel>[A-Za-z0-9_./:-]+)::)?(?P<name>[A-Za-z0-9_.-]+)\s*(?P<rest>.*)")
_OPERATOR = re.compile(r"(==|!=|>=|<=|~=|>|<)")


@dataclass(frozen=True)
class CondaDependency:
    """A conda match spec split into what Shipyard needs."""

    name: str
    version: str | None  # a pip version specifier ("==1.26.*", ">=1.2,<2"), None when unpinned
    build: str | None    # the conda build string, dropped (it has no pip meaning)

    def mapping(self, *, gpu: bool) -> CondaMapping:
        """Where this package comes from in a Shipyard image."""
        if self.name in _CUDA_NAMES and gpu:
            return CondaMapping(drop=_CUDA)
        if self.name.startswith("r-"):
            return CONDA_PACKAGES["r-base"]
        return CONDA_PACKAGES.get(self.name, CondaMapping(pypi=self.name))

    def pip_requirement(self, pypi_name: str) -> str:
        """The pip requirement line for this dependency under *pypi_name*."""
        return f"{pypi_name}{self.version or ''}"


def parse_match_spec(text: str) -> CondaDependency:
    """Split a conda match spec (``numpy=1.26``, ``conda-forge::numpy >=1.2``, ``numpy=1.26.4=py311_0``).

    Raises:
        ValueError: a form pip cannot express (``|`` alternatives, bracket specs), with the reason.
    """
    match = _MATCH_SPEC.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"'{text}' is not a conda package spec (expected e.g. 'numpy=1.26')")
    name, rest = match["name"].lower(), match["rest"].strip()
    if rest.startswith("["):
        raise ValueError(f"'{text}': bracket match specs are not supported; write 'name=version'")
    if "|" in rest:
        raise ValueError(f"'{text}': alternatives ('|') cannot be expressed for pip; pin one version range")
    version, build = _split_version(rest)
    if version is not None:
        try:
            Requirement(f"{name}{version}")
        except InvalidRequirement:
            raise ValueError(f"'{text}': cannot translate the version '{rest}' to pip's syntax") from None
    return CondaDependency(name=name, version=version, build=build)


def _split_version(rest: str) -> tuple[str | None, str | None]:
    if not rest:
        return None, None
    if rest.startswith("=="):
        version, _, build = rest[2:].partition("=")
        return f"=={version.strip()}", build or None
    if rest.startswith("="):  # conda's fuzzy pin: =1.2 means 1.2.*, unless a build string follows
        version, _, build = rest[1:].partition("=")
        if build:
            return f"=={version.strip()}", build
        return _fuzzy(version.strip()), None
    if _OPERATOR.match(rest):
        return rest.replace(" ", ""), None
    version, _, build = rest.partition(" ")  # "numpy 1.26.* py311_0": a bare version is exact
    if _OPERATOR.match(version):
        return version, build.strip() or None
    exact = _fuzzy(version) if version.endswith("*") else f"=={version}"
    return exact, build.strip() or None


def _fuzzy(version: str) -> str:
    version = version.rstrip("*").rstrip(".")
    return f"=={version}.*"
