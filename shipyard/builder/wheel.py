"""A wheel of the Shipyard installation that is building the image.

Images run the very Shipyard that built them, so the runtime comes from the local installation,
not from PyPI: that keeps the versions in step and lets builds run where PyPI holds no Shipyard
(air-gapped sites, development checkouts). A wheel is a zip of the package files plus three
metadata files (METADATA, WHEEL, RECORD), so we write it directly with :mod:`zipfile` instead of
running a build backend, which would need setuptools from an index.

The archive is reproducible (sorted entries, fixed timestamps): the same sources give the same
bytes, so Docker's layer cache keeps the runtime layer until Shipyard itself changes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import shipyard
from shipyard.builder.support import runtime_requirements
from shipyard.errors import BuildError

#: Package data shipped in the wheel, as in pyproject.toml's [tool.setuptools.package-data].
_INCLUDED_SUFFIXES = (".py", ".j2", ".txt", ".json", ".sh", ".typed")
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Wheel:
    """A built wheel: its file name (which pip parses) and its bytes."""

    filename: str
    data: bytes


def runtime_wheel_filename() -> str:
    """File name of the runtime wheel for this Shipyard version."""
    return f"shipyard-{shipyard.__version__}-py3-none-any.whl"


def build_runtime_wheel() -> Wheel:
    """Pack the installed ``shipyard`` package into a ``py3-none-any`` wheel, in memory."""
    package_dir = Path(shipyard.__file__).resolve().parent
    version = shipyard.__version__
    dist_info = f"shipyard-{version}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for path in sorted(package_dir.rglob("*")):
        if path.is_file() and path.suffix in _INCLUDED_SUFFIXES and "__pycache__" not in path.parts:
            entries.append((f"shipyard/{path.relative_to(package_dir).as_posix()}", path.read_bytes()))
    entries.append((f"{dist_info}/METADATA", _metadata(version).encode()))
    entries.append((f"{dist_info}/WHEEL", _WHEEL.encode()))
    record_name = f"{dist_info}/RECORD"
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in entries) + f"{record_name},,\n"
    entries.append((record_name, record.encode()))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return Wheel(filename=runtime_wheel_filename(), data=buffer.getvalue())


_WHEEL = "Wheel-Version: 1.0\nGenerator: shipyard.builder.wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _metadata(version: str) -> str:
    requires = "".join(f"Requires-Dist: {line}\n" for line in runtime_requirements())
    return ("Metadata-Version: 2.1\nName: shipyard\n"
            f"Version: {version}\nSummary: {shipyard.__doc__.splitlines()[0] if shipyard.__doc__ else ''}\n"
            f"Requires-Python: >=3.10\n{requires}")


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def load_wheel(path: Path) -> Wheel:
    """A Shipyard wheel from a file (a release, or one built earlier with :func:`build_runtime_wheel`).

    Raises:
        BuildError: the file is missing or is not a Shipyard wheel.
    """
    path = Path(path)
    if not path.is_file() or not path.name.startswith("shipyard-") or path.suffix != ".whl":
        raise BuildError(f"'{path}' is not a Shipyard wheel file (expected shipyard-<version>-py3-none-any.whl)")
    return Wheel(filename=path.name, data=path.read_bytes())
