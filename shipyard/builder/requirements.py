"""Read requirement lines (a requirements.txt, or a conda environment's ``pip:`` list) as pip does.

Azure ML environments are whatever pip accepted on someone's machine, so this module follows
pip's own requirement-file parser (``pip/_internal/req/req_file.py`` and ``req/constructors.py``):
lines ending in ``\\`` are joined, ``#`` comments are dropped where pip drops them, a line is split
into its requirement and its options where pip splits it, and the options are read with an
``optparse`` parser that knows exactly the options pip allows in a requirements file (so
``--index-url=URL``, ``-iURL`` and ``--extra-index`` abbreviations work as in pip).

What differs from running pip on the host is only what cannot work inside an image build:

- local files and folders (a wheel, an sdist, a project folder, a ``-f`` folder, a ``-c`` file)
  are carried into the build context (``.shipyard/wheels/``) and must lie inside the spec's folder;
- local ``-r`` files are read here (relative to the file that names them), so their lines get the
  same checks and their packages the same error messages;
- ``-e``/``--editable`` is refused: an editable install points at a source tree the image lacks.

URLs (``-r https://...``, bare archive URLs, ``name @ URL``, ``git+https://...``) are passed to
pip unchanged; it fetches them during the build. Every line is checked to be one line (no control
characters) because it is written into a file pip reads line by line.
"""

from __future__ import annotations

import optparse
import re
import shlex
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from shipyard.builder._fields import single_line
from shipyard.builder._yaml import read_text
from shipyard.errors import SpecError

#: Folder of the build context (next to requirements.txt) that local files are carried into.
LOCAL_DIR = "wheels"
#: How deeply ``-r`` files may include each other.
MAX_INCLUDE_DEPTH = 16

_COMMENT = re.compile(r"(^|\s+)#.*$")                      # pip's COMMENT_RE
_URL_SCHEME = re.compile(r"^(https?|file):", re.IGNORECASE)  # pip's SCHEME_RE (nested -r/-c files)
_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
_VCS_TOOLS = {"git": "git", "hg": "mercurial", "svn": "subversion", "bzr": "bzr"}  # Debian packages
#: pip's ARCHIVE_EXTENSIONS (pip/_internal/utils/filetypes.py).
ARCHIVE_SUFFIXES = (".zip", ".whl", ".tar.bz2", ".tbz", ".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tlz",
                    ".tar.lz", ".tar.lzma")


@dataclass(frozen=True)
class RequirementLine:
    """One line for the image's requirements.txt, and what the builder must know about it."""

    text: str
    """The line as pip in the image reads it (local paths rewritten to the build context)."""
    origin: str
    """``file:line`` it came from, for error messages."""
    name: str | None = None
    """Canonical project name, when the line names a project (``numpy>=1.26``, ``x @ URL``)."""
    local: Path | None = None
    """A file or folder to carry into the build context's ``wheels/`` folder."""
    build_tool: str | None = None
    """A Debian package the builder stage needs for this line (the VCS tool of a VCS requirement)."""


def read_requirements_file(path: Path, *, root: Path) -> Iterator[RequirementLine]:
    """The requirement lines of a requirements file (and the local files it includes)."""
    yield from _read_file(path, root=root, field=None, chain=())


def read_requirement_lines(numbered: list[tuple[int | None, str]], *, source: Path, root: Path,
                           field: str | None) -> Iterator[RequirementLine]:
    """Requirement lines given one by one (a conda ``pip:`` list), numbered by their line in *source*."""
    for line_no, raw in numbered:
        try:
            single_line(raw, "a requirement line")
        except ValueError as exc:
            raise SpecError(str(exc), file=str(source), field=field, line=line_no) from None
    yield from _read_lines(_preprocess(numbered), source=source, root=root, field=field, chain=(source.resolve(),))


def _read_file(path: Path, *, root: Path, field: str | None, chain: tuple[Path, ...]) -> Iterator[RequirementLine]:
    text = read_text(path)
    numbered: list[tuple[int | None, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line):  # tabs are whitespace to pip; other controls are not
            raise SpecError(f"control character in a requirement line: {line!r}", file=str(path), line=number)
        numbered.append((number, line))
    yield from _read_lines(_preprocess(numbered), source=path, root=root, field=field,
                           chain=(*chain, path.resolve()))


def _preprocess(numbered: list[tuple[int | None, str]]) -> list[tuple[int | None, str]]:
    """pip's ``preprocess``: join ``\\`` continuations, drop comments and blank lines."""
    joined: list[tuple[int | None, str]] = []
    pending: list[str] = []
    first: int | None = None
    for number, line in numbered:
        if not line.endswith("\\") or _COMMENT.match(line):
            if _COMMENT.match(line):
                line = " " + line
            if pending:
                joined.append((first, "".join(pending) + line))
                pending = []
            else:
                joined.append((number, line))
        else:
            if not pending:
                first = number
            pending.append(line.strip("\\"))
    if pending:
        joined.append((first, "".join(pending)))
    cleaned = []
    for number, line in joined:
        line = _COMMENT.sub("", line).strip()
        if line:
            cleaned.append((number, line))
    return cleaned


def _read_lines(lines: list[tuple[int | None, str]], *, source: Path, root: Path, field: str | None,
                chain: tuple[Path, ...]) -> Iterator[RequirementLine]:
    for line_no, line in lines:
        where = _Where(source, field, line_no)
        args, options_text = _break_args_options(line)
        try:
            options, _ = _parser(where).parse_args(shlex.split(options_text))
        except ValueError as exc:  # shlex: an unclosed quote
            raise where.error(f"'{line}': cannot split the options ({exc})") from None
        if options.editables:
            raise where.error(f"'{line}': editable installs do not work in an image (-e points at a source tree "
                              "the image does not have); build a wheel and list its path, or list the "
                              "project folder without -e")
        if args:
            yield _requirement(args, options_text, where=where, root=root)
            continue
        yield from _options(options, where=where, root=root, chain=chain)


@dataclass(frozen=True)
class _Where:
    source: Path
    field: str | None
    line: int | None

    @property
    def origin(self) -> str:
        return f"{self.source}:{self.line}"

    def error(self, message: str) -> SpecError:
        return SpecError(message, file=str(self.source), field=self.field, line=self.line)


def _break_args_options(line: str) -> tuple[str, str]:
    """pip's ``break_args_options``: the requirement is every word before the first ``-`` word."""
    tokens = line.split(" ")
    args: list[str] = []
    for token in tokens:
        if token.startswith("-"):
            break
        args.append(token)
    return " ".join(args), " ".join(tokens[len(args):])


class _OptionError(Exception):
    pass


def _parser(where: _Where) -> optparse.OptionParser:
    """pip's requirement-file options (SUPPORTED_OPTIONS and SUPPORTED_OPTIONS_REQ), nothing else."""
    parser = optparse.OptionParser(add_help_option=False)
    parser.add_option("-i", "--index-url", "--pypi-url", dest="index_url")
    parser.add_option("--extra-index-url", dest="extra_index_urls", action="append", default=[])
    parser.add_option("--no-index", action="store_true", default=False)
    parser.add_option("-c", "--constraint", dest="constraints", action="append", default=[])
    parser.add_option("-r", "--requirement", dest="requirements", action="append", default=[])
    parser.add_option("-e", "--editable", dest="editables", action="append", default=[])
    parser.add_option("-f", "--find-links", dest="find_links", action="append", default=[])
    parser.add_option("--no-binary", dest="no_binary", action="append", default=[])
    parser.add_option("--only-binary", dest="only_binary", action="append", default=[])
    parser.add_option("--prefer-binary", action="store_true", default=False)
    parser.add_option("--require-hashes", action="store_true", default=False)
    parser.add_option("--pre", action="store_true", default=False)
    parser.add_option("--trusted-host", dest="trusted_hosts", action="append", default=[])
    parser.add_option("--use-feature", dest="features_enabled", action="append", default=[])
    parser.add_option("--global-option", dest="global_options", action="append", default=[])
    parser.add_option("--hash", dest="hashes", action="append", default=[])
    parser.add_option("-C", "--config-settings", dest="config_settings", action="append", default=[])

    def fail(message: str) -> None:
        raise where.error(f"{message} (pip accepts in requirement lines: -r/-c FILE or URL, -i/--index-url, "
                          "--extra-index-url, --no-index, -f/--find-links, --trusted-host, --pre, "
                          "--prefer-binary, --only-binary, --no-binary, --require-hashes, --use-feature; "
                          "after a requirement: --hash, --global-option, --config-settings)")

    parser.error = fail  # type: ignore[method-assign]  # optparse would print and sys.exit
    return parser


def _options(options: optparse.Values, *, where: _Where, root: Path,
             chain: tuple[Path, ...]) -> Iterator[RequirementLine]:
    """An option line: its settings pass to pip; local files are read or carried."""
    for value in options.requirements:
        if _URL_SCHEME.match(value) and not value.lower().startswith("file:"):
            yield RequirementLine(_join(["-r", value]), where.origin)
            continue
        included = _local(value, where=where, root=root, kind="file")
        if included in chain or len(chain) > MAX_INCLUDE_DEPTH:
            raise where.error(f"'-r {value}' includes {included}, which is already being read "
                              f"({' -> '.join(map(str, chain))}); remove the circular -r")
        yield from _read_file(included, root=root, field=None, chain=chain)
    for value in options.constraints:
        yield _carried_option("-c", value, where=where, root=root, kind="file")
    for value in options.find_links:
        yield _carried_option("-f", value, where=where, root=root, kind="dir")
    words: list[str] = []
    if options.index_url:
        words += ["--index-url", options.index_url]
    for url in options.extra_index_urls:
        words += ["--extra-index-url", url]
    for host in options.trusted_hosts:
        words += ["--trusted-host", host]
    for name in options.no_binary:
        words += ["--no-binary", name]
    for name in options.only_binary:
        words += ["--only-binary", name]
    for feature in options.features_enabled:
        words += ["--use-feature", feature]
    words += [flag for flag, on in (("--no-index", options.no_index), ("--pre", options.pre),
                                    ("--prefer-binary", options.prefer_binary),
                                    ("--require-hashes", options.require_hashes)) if on]
    if words:
        yield RequirementLine(_join(words), where.origin)


def _join(words: list[str]) -> str:
    """Words as pip's ``shlex.split`` reads them back; quoted only where needed, to stay readable."""
    return " ".join(word if word and shlex.split(word) == [word] else shlex.quote(word) for word in words)


def _carried_option(option: str, value: str, *, where: _Where, root: Path, kind: str) -> RequirementLine:
    """``-c``/``-f`` with a URL passes; with a local file or folder, that is carried into the context."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value) and not value.lower().startswith("file:"):
        return RequirementLine(_join([option, value]), where.origin)
    local = _local(value, where=where, root=root, kind=kind)
    return RequirementLine(_join([option, f"./{LOCAL_DIR}/{local.name}"]), where.origin, local=local)


def _requirement(args: str, options_text: str, *, where: _Where, root: Path) -> RequirementLine:
    """A requirement, as pip's ``install_req_from_line`` tells a URL, a path and a name apart."""
    suffix = f" {options_text}" if options_text else ""
    vcs = _VCS.match(args)
    if vcs:
        return RequirementLine(args + suffix, where.origin, build_tool=_VCS_TOOLS[vcs[1].lower()])
    if _URL_SCHEME.match(args):
        url, markers = _split_markers(args, "; ")
        if not url.lower().startswith("file:"):
            return RequirementLine(args + suffix, where.origin)
        local = _local(url, where=where, root=root, kind="any")
        return _local_requirement(local, "", markers, suffix, where=where)
    text, markers = _split_markers(args, ";")
    path, extras = _strip_extras(text)
    looks_like_path = "/" in text or text.startswith(".")
    before_at = path.split("@", 1)[0]
    is_url_requirement = "@" in path and not ("/" in before_at or before_at.startswith("."))
    if looks_like_path and (where.source.parent / path).is_dir():
        return _local_requirement(_local(path, where=where, root=root, kind="dir"), extras, markers, suffix,
                                  where=where)
    if path.lower().endswith(ARCHIVE_SUFFIXES) and not is_url_requirement:
        return _local_requirement(_local(path, where=where, root=root, kind="file"), extras, markers, suffix,
                                  where=where)
    try:
        requirement = Requirement(args)
    except InvalidRequirement as exc:
        raise where.error(f"'{args}' is not a valid pip requirement: {exc}") from None
    return RequirementLine(args + suffix, where.origin, name=canonicalize_name(requirement.name))


def _local_requirement(local: Path, extras: str, markers: str, suffix: str, *, where: _Where) -> RequirementLine:
    if local.is_dir() and not ((local / "pyproject.toml").is_file() or (local / "setup.py").is_file()):
        raise where.error(f"'{local}' is a folder without pyproject.toml or setup.py; pip cannot install it")
    if local.is_file() and not local.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise where.error(f"'{local}' is not a package archive (expected {', '.join(ARCHIVE_SUFFIXES[:5])}, ...)")
    text = f"./{LOCAL_DIR}/{local.name}{extras}" + (f"; {markers}" if markers else "")
    return RequirementLine(text + suffix, where.origin, local=local)


def _split_markers(text: str, separator: str) -> tuple[str, str]:
    if separator in text:
        head, markers = text.split(separator, 1)
        return head.strip(), markers.strip()
    return text, ""


def _strip_extras(path: str) -> tuple[str, str]:
    match = re.match(r"^(.+)(\[[^\]]+\])$", path)
    return (match[1], match[2]) if match else (path, "")


def _local(value: str, *, where: _Where, root: Path, kind: str) -> Path:
    """A local file or folder named relative to the file that names it; it must stay in the spec's folder."""
    if value.lower().startswith("file:"):
        value = urllib.request.url2pathname(urllib.parse.urlsplit(value).path)
    try:
        candidate = (where.source.parent / value.strip()).resolve()
    except (OSError, ValueError) as exc:
        raise where.error(f"'{value}' is not a usable path: {exc}") from None
    if not candidate.is_relative_to(root):
        raise where.error(f"'{value}' points outside the spec's folder {root}; copy it next to shipyard.yaml")
    if not candidate.exists():
        raise where.error(f"'{value}' does not exist (looked for {candidate})")
    if kind == "file" and not candidate.is_file():
        raise where.error(f"'{value}' is not a file")
    if kind == "dir" and not candidate.is_dir():
        raise where.error(f"'{value}' is not a folder (a local --find-links must be a folder of archives)")
    try:
        single_line(candidate.name, "a file name")
    except ValueError as exc:
        raise where.error(str(exc)) from None
    return candidate


__all__ = ["ARCHIVE_SUFFIXES", "LOCAL_DIR", "RequirementLine", "read_requirement_lines", "read_requirements_file"]
