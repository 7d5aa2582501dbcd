"""YAML loading that remembers where each key came from, with bounded cost.

Spec and environment errors must name the file, the field and the line. PyYAML's ``safe_load``
forgets positions, so we compose the node tree once and record the line of every mapping key
and sequence item, keyed by its path (``("build", "pip", "index_url")``, ``("models", 0)``).
Duplicate keys are an error here: PyYAML would silently keep the last one.

A spec is small and written by hand, but the loader must survive any input: PyYAML expands
aliases without limit (a 500-byte "billion laughs" document is billions of nodes once walked or
validated), accepts recursive aliases, and composes nested collections recursively (a 5,000-deep
list is a ``RecursionError``). So before composing, one pass over the parser's event stream (the
parser is a state machine, not recursive) counts every node as it would be after alias expansion
and tracks the nesting depth, and refuses past :data:`MAX_NODES` / :data:`MAX_DEPTH` with the line.
Whatever else goes wrong reading the file ends as a :class:`SpecError` with the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import SpecError

Location = tuple[str | int, ...]

#: Nodes a spec or environment file may have once aliases are expanded. Real ones have a few hundred.
MAX_NODES = 20_000
#: How deeply collections may nest. The deepest real field (``dependencies[0].pip[0]``) is 4 levels.
MAX_DEPTH = 64
#: Largest spec, environment or requirements file read (real ones are a few KiB).
MAX_FILE_BYTES = 4 << 20


class LineMap(dict[Location, int]):
    """Maps a field path to its 1-based line; looks up the closest known parent for deep paths."""

    def line_of(self, loc: Location) -> int | None:
        """Line of *loc*, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            line = self.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def read_text(path: Path) -> str:
    """The text of a spec, environment or requirements file, or a :class:`SpecError` saying why not."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read the file: {exc}", file=str(path)) from None
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(f"the file is larger than {MAX_FILE_BYTES >> 20} MiB; this is not a spec or environment",
                        file=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise SpecError(f"not UTF-8 text (byte {data[exc.start]:#04x}); save the file as UTF-8",
                        file=str(path), line=line) from None


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse *path* and return its data plus the line of every key.

    Raises:
        SpecError: the file is missing, is not YAML, repeats a key, nests too deeply or expands too far.
    """
    text = read_text(path)
    where = str(path)
    try:
        _check_bounds(text, where)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            lines = LineMap()
            if node is not None:
                _walk(node, (), lines, where)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {_problem(exc)}", file=where, line=_line(exc, text)) from None
    return data, lines


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; a value its constructors cannot convert becomes a YAML error with a mark.

    (``2024-02-30`` as a timestamp, an integer past Python's digit limit: ValueError, not YAMLError.)
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read the value {_short(node.value)} as {node.tag}: {_short(exc)}",
                node.start_mark) from None


def _check_bounds(text: str, where: str) -> None:
    """Refuse documents that nest too deeply or grow too large once aliases are expanded."""
    expanded = 0
    sizes: dict[str, int] = {}       # anchor -> expanded size of its (finished) node
    open_anchors: set[str] = set()   # anchors of collections still being read: an alias to one is recursive
    stack: list[tuple[str | None, int]] = []
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark is not None else None
        if isinstance(event, yaml.DocumentStartEvent):
            sizes.clear()
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise SpecError(f"the alias *{event.anchor} refers to a collection that contains it (a recursive "
                                "alias); write the value out instead", file=where, line=line)
            expanded += sizes.get(event.anchor, 1)
        elif isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            expanded += 1
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append((event.anchor, expanded))
                if event.anchor:
                    open_anchors.add(event.anchor)
                if len(stack) > MAX_DEPTH:
                    raise SpecError(f"collections nest more than {MAX_DEPTH} levels deep; a spec or environment "
                                    "never needs that", file=where, line=line)
            elif event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.CollectionEndEvent) and stack:
            anchor, started = stack.pop()
            if anchor:
                open_anchors.discard(anchor)
                sizes[anchor] = expanded - started + 1
        if expanded > MAX_NODES:
            raise SpecError(f"the document has more than {MAX_NODES} values once its aliases (*name) are "
                            "expanded; write the values out instead of nesting aliases", file=where, line=line)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        character = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return f"the character {character!r} is not allowed in YAML ({exc.reason})"
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem and context:
        return f"{problem} ({context})"
    return str(problem or exc)


def _line(exc: yaml.YAMLError, text: str) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line + 1
    position = getattr(exc, "position", None)  # ReaderError: a character YAML does not allow
    if isinstance(position, int):
        return text[:position].count("\n") + 1
    return None


def _walk(node: yaml.Node, loc: Location, lines: LineMap, where: str) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else f"<{key_node.id} key>"
            if key in seen:
                raise SpecError(f"key '{key}' appears twice", file=where,
                                field=".".join(map(str, (*loc, key))), line=key_node.start_mark.line + 1)
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines, where)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = item.start_mark.line + 1
            _walk(item, (*loc, index), lines, where)
