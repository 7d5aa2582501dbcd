"""YAML loading that remembers where each key came from.

Spec and environment errors must name the file, the field and the line. PyYAML's ``safe_load``
forgets positions, so we compose the node tree once and record the line of every mapping key
and sequence item, keyed by its path (``("build", "pip", "index_url")``, ``("models", 0)``).
Duplicate keys are an error here: PyYAML would silently keep the last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import SpecError

Location = tuple[str | int, ...]


class LineMap(dict[Location, int]):
    """Maps a field path to its 1-based line; looks up the closest known parent for deep paths."""

    def line_of(self, loc: Location) -> int | None:
        """Line of *loc*, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            line = self.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def load_yaml(path: Path) -> tuple[Any, LineMap]:
    """Parse *path* and return its data plus the line of every key.

    Raises:
        SpecError: the file is missing, is not YAML, or repeats a key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the file: {exc}", file=str(path)) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"not valid YAML: {problem}", file=str(path), line=line) from exc
    lines = LineMap()
    if node is not None:
        _walk(node, (), lines, path)
    return data, lines


def _walk(node: yaml.Node, loc: Location, lines: LineMap, path: Path) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise SpecError(f"key '{key}' appears twice", file=str(path),
                                field=".".join(map(str, (*loc, key))), line=key_node.start_mark.line + 1)
            seen.add(key)
            lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = item.start_mark.line + 1
            _walk(item, (*loc, index), lines, path)
