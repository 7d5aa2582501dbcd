"""Read a model's environment (Azure-style conda YAML or requirements.txt) into pip terms.

The result is what the image installs: pip requirement lines, system packages, the Python
version, and local wheel files to carry into the build context. Conda entries are translated by
:mod:`shipyard.builder.conda`; Azure-only serving packages are swapped for Shipyard's runtime
(with a warning) so an Azure ML environment builds unchanged. Problems are reported with the
environment file, the entry and its line, before any build starts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pydantic import TypeAdapter, ValidationError

from shipyard.builder._fields import ImageEnv
from shipyard.builder._yaml import LineMap, load_yaml
from shipyard.builder.conda import parse_match_spec
from shipyard.builder.requirements import RequirementLine, read_requirement_lines, read_requirements_file
from shipyard.errors import SpecError

logger = logging.getLogger(__name__)

#: Azure ML serving stacks that Shipyard's runtime replaces, and what is kept in their place.
#: ``inference-schema`` stays so entry scripts decorated with ``@input_schema`` still import.
AZURE_REPLACEMENTS: dict[str, tuple[str, ...]] = {
    "azureml-defaults": ("inference-schema",),
    "azureml-inference-server-http": ("inference-schema",),
}

_CONDA_KEYS = {"name", "channels", "dependencies", "prefix", "variables"}
_IMAGE_ENV = TypeAdapter(ImageEnv)


@dataclass
class ResolvedEnvironment:
    """What an image installs for one model, in pip and Debian terms."""

    requirements: list[str] = field(default_factory=list)
    python_version: str | None = None
    python_origin: tuple[str, str, str, int | None] | None = None
    """(file, field, entry, line) that set python_version, to point at when that version cannot work."""
    system_packages: list[str] = field(default_factory=list)
    build_system_packages: list[str] = field(default_factory=list)
    local_files: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    """Canonical pip name -> where it came from (for error messages)."""

    def requirement_names(self) -> set[str]:
        """Canonical names of every requirement (option lines excluded)."""
        return set(self.origins)


def load_environment(path: Path | None, *, gpu: bool = False, root: Path | None = None) -> ResolvedEnvironment:
    """Read *path* (conda YAML if it ends in .yml/.yaml, else requirements.txt).

    Args:
        path: the environment file, or None for "runtime dependencies only".
        gpu: whether the image is CUDA-based (CUDA conda packages are then provided by the base).
        root: folder that local wheel paths must stay inside (the spec's folder).

    Raises:
        SpecError: naming the file, entry and line of anything that cannot be installed.
    """
    resolved = ResolvedEnvironment()
    if path is None:
        return resolved
    root = (root or path.parent).resolve()
    if path.suffix.lower() in (".yml", ".yaml"):
        _read_conda(path, resolved, gpu=gpu, root=root)
    else:
        _add_lines(resolved, read_requirements_file(path, root=root))
    return resolved


def _read_conda(path: Path, out: ResolvedEnvironment, *, gpu: bool, root: Path) -> None:
    data, lines = load_yaml(path)
    where = str(path)
    if not isinstance(data, dict):
        raise SpecError("a conda environment must be a mapping with 'dependencies'", file=where,
                        line=lines.line_of(()) or 1)
    unknown = sorted(set(data) - _CONDA_KEYS)
    if unknown:
        raise SpecError(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(_CONDA_KEYS))})",
                        file=where, field=unknown[0], line=lines.line_of((unknown[0],)))
    out.env.update(_variables(data.get("variables"), where=where, lines=lines))
    dependencies = data.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise SpecError("'dependencies' must be a list", file=where, field="dependencies",
                        line=lines.line_of(("dependencies",)))
    for index, entry in enumerate(dependencies):
        loc = ("dependencies", index)
        if isinstance(entry, dict) and set(entry) == {"pip"} and isinstance(entry["pip"], list):
            pip_lines = []
            for i, item in enumerate(entry["pip"]):
                if not isinstance(item, (str, int, float)) or isinstance(item, bool):
                    raise SpecError("each pip entry must be one requirement line (a string)", file=where,
                                    field=f"dependencies[{index}].pip[{i}]", line=lines.line_of((*loc, "pip", i)))
                pip_lines.append((lines.line_of((*loc, "pip", i)), str(item)))
            _add_lines(out, read_requirement_lines(pip_lines, source=path, root=root,
                                                   field=f"dependencies[{index}].pip"))
        elif isinstance(entry, str):
            _add_conda(entry, out, gpu=gpu, where=where, field=f"dependencies[{index}]", line=lines.line_of(loc))
        else:
            raise SpecError("each dependency must be a conda spec string or a 'pip:' list", file=where,
                            field=f"dependencies[{index}]", line=lines.line_of(loc))


def _add_conda(text: str, out: ResolvedEnvironment, *, gpu: bool, where: str, field: str,
               line: int | None) -> None:
    try:
        dep = parse_match_spec(text)
    except ValueError as exc:
        raise SpecError(str(exc), file=where, field=field, line=line) from None
    if dep.name == "python":
        out.python_version = _python_version(dep.version, text, where=where, field=field, line=line)
        out.python_origin = (where, field, text, line)
        return
    mapping = dep.mapping(gpu=gpu)
    if dep.build:
        logger.warning("%s:%s: conda build string '%s' of '%s' has no pip meaning; ignored",
                       where, line, dep.build, dep.name)
    if mapping.unsupported:
        raise SpecError(f"conda package '{dep.name}' cannot be installed without conda: {mapping.unsupported}. "
                        "Remove it, or use a base image that already contains it",
                        file=where, field=field, line=line)
    if mapping.drop:
        logger.info("%s:%s: conda package '%s' not needed (%s)", where, line, dep.name, mapping.drop)
    for package in mapping.apt:
        _append_unique(out.system_packages, package)
    for package in mapping.build_apt:
        _append_unique(out.build_system_packages, package)
    if mapping.pypi:
        if mapping.pypi != dep.name:
            logger.info("%s:%s: conda package '%s' is '%s' on PyPI", where, line, dep.name, mapping.pypi)
        requirement = dep.pip_requirement(mapping.pypi)
        _add_requirement(out, requirement, origin=f"conda dependency '{text}' ({where}:{line})")


def _python_version(version: str | None, text: str, *, where: str, field: str, line: int | None) -> str | None:
    match = re.fullmatch(r"==(3\.\d+)(?:\.[0-9*]+)*(?:\.\*)?", version or "")
    if match:
        return match.group(1)
    if version:
        logger.warning("%s:%s: '%s' is not a single Python version; the base image's Python is used", where,
                       line, text)
    return None


def _variables(variables: object, *, where: str, lines: LineMap) -> dict[str, str]:
    """A conda ``variables:`` mapping, under the same rules as the spec's ``env:`` (see ImageEnv)."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise SpecError("'variables' must be a mapping of NAME: value", file=where, field="variables",
                        line=lines.line_of(("variables",)))
    env: dict[str, str] = {}
    for key, value in variables.items():
        loc = ("variables", str(key))
        if isinstance(value, (dict, list)) or value is None:
            raise SpecError(f"the value of '{key}' must be a string", file=where, field=f"variables.{key}",
                            line=lines.line_of(loc))
        try:
            env.update(_IMAGE_ENV.validate_python({str(key): str(value)}))
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise SpecError(message, file=where, field=f"variables.{key}", line=lines.line_of(loc)) from None
    return env


def _add_lines(out: ResolvedEnvironment, lines: Iterable[RequirementLine]) -> None:
    carried: dict[str, Path] = {path.name: path for path in out.local_files}
    for line in lines:
        if line.local is not None:
            other = carried.setdefault(line.local.name, line.local)
            if other != line.local:
                file, _, number = line.origin.rpartition(":")
                raise SpecError(f"{line.local} and {other} would both be carried into the image as "
                                f"'{line.local.name}'; rename one", file=file, line=int(number) if number.isdigit() else None)
            if line.local not in out.local_files:
                out.local_files.append(line.local)
        if line.build_tool is not None:
            _append_unique(out.build_system_packages, line.build_tool)
        if line.name is not None and line.name in AZURE_REPLACEMENTS:
            _replace_azure(out, line.name, origin=line.origin)
            continue
        out.requirements.append(line.text)
        if line.name is not None:
            out.origins[line.name] = line.origin


def _add_requirement(out: ResolvedEnvironment, text: str, *, origin: str, where: str | None = None,
                     field: str | None = None, line: int | None = None) -> None:
    requirement_text = text.split(" --", 1)[0].strip()  # per-requirement options such as --hash
    try:
        requirement = Requirement(requirement_text)
    except InvalidRequirement as exc:
        raise SpecError(f"'{text}' is not a valid pip requirement: {exc}", file=where, field=field,
                        line=line) from None
    name = canonicalize_name(requirement.name)
    if name in AZURE_REPLACEMENTS:
        _replace_azure(out, name, origin=origin)
        return
    out.requirements.append(text)
    out.origins[name] = origin


def _replace_azure(out: ResolvedEnvironment, name: str, *, origin: str) -> None:
    kept = AZURE_REPLACEMENTS[name]
    logger.warning("%s: '%s' is Azure ML's serving stack; Shipyard's runtime replaces it%s", origin, name,
                   f" (keeping {', '.join(kept)})" if kept else "")
    for replacement in kept:
        if canonicalize_name(replacement) not in out.origins:
            out.requirements.append(replacement)
            out.origins[canonicalize_name(replacement)] = f"replacement for '{name}' ({origin})"


def _append_unique(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


__all__ = ["AZURE_REPLACEMENTS", "ResolvedEnvironment", "load_environment"]
