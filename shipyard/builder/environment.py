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
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from shipyard.builder._yaml import load_yaml
from shipyard.builder.conda import parse_match_spec
from shipyard.errors import SpecError

logger = logging.getLogger(__name__)

#: Azure ML serving stacks that Shipyard's runtime replaces, and what is kept in their place.
#: ``inference-schema`` stays so entry scripts decorated with ``@input_schema`` still import.
AZURE_REPLACEMENTS: dict[str, tuple[str, ...]] = {
    "azureml-defaults": ("inference-schema",),
    "azureml-inference-server-http": ("inference-schema",),
}

_CONDA_KEYS = {"name", "channels", "dependencies", "prefix", "variables"}
_LOCAL_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2")
_VCS = re.compile(r"(git|hg|svn|bzr)\+")
_OPTIONS_WITH_VALUE = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host",
                       "--only-binary", "--no-binary"}
_FLAG_OPTIONS = {"--pre", "--prefer-binary"}


@dataclass
class ResolvedEnvironment:
    """What an image installs for one model, in pip and Debian terms."""

    requirements: list[str] = field(default_factory=list)
    python_version: str | None = None
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
        lines = path.read_text(encoding="utf-8").splitlines()
        _read_requirement_lines(path, list(enumerate(lines, start=1)), resolved, root=root, field_prefix="")
    return resolved


def _read_conda(path: Path, out: ResolvedEnvironment, *, gpu: bool, root: Path) -> None:
    data, lines = load_yaml(path)
    where = str(path)
    if not isinstance(data, dict):
        raise SpecError("a conda environment must be a mapping with 'dependencies'", file=where)
    unknown = sorted(set(data) - _CONDA_KEYS)
    if unknown:
        raise SpecError(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(_CONDA_KEYS))})",
                        file=where, field=unknown[0], line=lines.line_of((unknown[0],)))
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        raise SpecError("'variables' must be a mapping", file=where, field="variables",
                        line=lines.line_of(("variables",)))
    out.env.update({str(key): str(value) for key, value in variables.items()})
    dependencies = data.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise SpecError("'dependencies' must be a list", file=where, field="dependencies",
                        line=lines.line_of(("dependencies",)))
    for index, entry in enumerate(dependencies):
        loc = ("dependencies", index)
        if isinstance(entry, dict) and set(entry) == {"pip"} and isinstance(entry["pip"], list):
            pip_lines = [(lines.line_of((*loc, "pip", i)), str(item)) for i, item in enumerate(entry["pip"])]
            _read_requirement_lines(path, pip_lines, out, root=root, field_prefix=f"dependencies[{index}].pip")
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


def _read_requirement_lines(path: Path, numbered: list[tuple[int | None, str]], out: ResolvedEnvironment, *,
                            root: Path, field_prefix: str) -> None:
    where = str(path)
    for line_no, raw in numbered:
        text = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not text:
            continue
        field = field_prefix or None
        if text.startswith(("-r ", "--requirement ")):
            included = _local_path(text.split(None, 1)[1], path, root, where=where, field=field, line=line_no)
            nested = list(enumerate(included.read_text(encoding="utf-8").splitlines(), start=1))
            _read_requirement_lines(included, nested, out, root=root, field_prefix="")
        elif text.startswith("-"):
            out.requirements.append(_option(text, where=where, field=field, line=line_no))
        elif _VCS.match(text):
            _append_unique(out.build_system_packages, "git")
            out.requirements.append(text)
        elif text.lower().endswith(_LOCAL_SUFFIXES) and "://" not in text:
            local = _local_path(text, path, root, where=where, field=field, line=line_no)
            out.local_files.append(local)
            out.requirements.append(f"./wheels/{local.name}")
        else:
            _add_requirement(out, text, origin=f"{where}:{line_no}", where=where, field=field, line=line_no)


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
        kept = AZURE_REPLACEMENTS[name]
        logger.warning("%s: '%s' is Azure ML's serving stack; Shipyard's runtime replaces it%s", origin,
                       requirement.name, f" (keeping {', '.join(kept)})" if kept else "")
        for replacement in kept:
            if canonicalize_name(replacement) not in out.origins:
                out.requirements.append(replacement)
                out.origins[canonicalize_name(replacement)] = f"replacement for '{requirement.name}' ({origin})"
        return
    out.requirements.append(text)
    out.origins[name] = origin


def _option(text: str, *, where: str, field: str | None, line: int | None) -> str:
    option, _, value = text.partition(" ")
    if "=" in option:  # --index-url=https://... (an '=' inside the URL must stay)
        option, _, value = text.partition("=")
    if option in _FLAG_OPTIONS and not value:
        return option
    if option in _OPTIONS_WITH_VALUE and value.strip():
        if option in ("-f", "--find-links") and "://" not in value:
            raise SpecError(f"'{text}': local --find-links folders are not carried into the build; list the "
                            "wheel files themselves instead", file=where, field=field, line=line)
        return f"{option} {value.strip()}"
    if option in ("-e", "--editable"):
        raise SpecError(f"'{text}': editable installs do not work in an image; build a wheel and list its path",
                        file=where, field=field, line=line)
    allowed = ", ".join(sorted(_OPTIONS_WITH_VALUE | _FLAG_OPTIONS | {"-r"}))
    raise SpecError(f"'{text}': pip option not supported here (allowed: {allowed})", file=where, field=field,
                    line=line)


def _local_path(value: str, relative_to: Path, root: Path, *, where: str, field: str | None,
                line: int | None) -> Path:
    candidate = (relative_to.parent / value.strip()).resolve()
    if not candidate.is_relative_to(root):
        raise SpecError(f"'{value}' points outside the spec's folder {root}", file=where, field=field, line=line)
    if not candidate.is_file():
        raise SpecError(f"'{value}' does not exist (looked for {candidate})", file=where, field=field, line=line)
    return candidate


def _append_unique(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


__all__ = ["AZURE_REPLACEMENTS", "ResolvedEnvironment", "load_environment"]
