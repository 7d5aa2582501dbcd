"""The import report: one row per field of every source file, so nothing is dropped silently.

An importer reads a source file through a :class:`SourceFile`. Each field it looks at is
answered once: :meth:`SourceFile.mapped` (it became this Shipyard setting) or
:meth:`SourceFile.not_applicable` (and why). Whatever is left in the file afterwards is reported
as ``unknown`` by name, so a field Shipyard has never heard of is listed, never lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["mapped", "not applicable", "unknown"]

#: Field names whose values are secrets: the report shows that they were read, never their value.
SECRET_NAMES = ("password", "primarykey", "secondarykey", "sslkey", "key", "token", "secret")
MISSING: Any = object()


@dataclass(frozen=True)
class FieldOutcome:
    """What became of one source field."""

    file: str
    field: str
    value: str
    status: Status
    to: str
    """The Shipyard setting it became (``shipyard.yaml: base_image``), or ``-``."""
    why: str = ""


def _is_secret(path: str) -> bool:
    last = path.rsplit(".", 1)[-1].lower().replace("_", "")
    return any(last.endswith(name) for name in SECRET_NAMES)


def _show(path: str, value: Any) -> str:
    if _is_secret(path) and value not in (None, ""):
        return "(secret, not shown)"
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class SourceFile:
    """One source file's data and the record of which of its fields were answered."""

    path: Path
    data: dict[str, Any]
    kind: str
    outcomes: list[FieldOutcome] = field(default_factory=list)
    _answered: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.path.name

    def get(self, path: str, default: Any = MISSING) -> Any:
        """The value at a dotted *path* (``autoScaler.minReplicas``), or *default* when absent."""
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def has(self, path: str) -> bool:
        return self.get(path) is not MISSING

    def mapped(self, path: str, to: str, note: str = "") -> Any:
        """Record that *path* became the Shipyard setting *to*; returns its value."""
        value = self.get(path)
        self._record(path, value, "mapped", to, note)
        return value

    def not_applicable(self, path: str, why: str) -> None:
        """Record that *path* has no Shipyard equivalent, and why (if the file has it)."""
        if self.has(path):
            self._record(path, self.get(path), "not applicable", "-", why)

    def answer_rest(self, prefix: str, why: str) -> None:
        """Mark every field under *prefix* not yet answered as not applicable, for one reason."""
        for path in self._leaves(self.get(prefix, {}), prefix):
            if not self._covered(path):
                self._record(path, self.get(path), "not applicable", "-", why)

    def finish(self) -> list[FieldOutcome]:
        """Add an ``unknown`` row for every field nobody answered; return all rows in file order."""
        for path in self._leaves(self.data, ""):
            if not self._covered(path) and self.get(path) in ({}, None):
                self._record(path, self.get(path), "not applicable", "-", "empty (null): sets nothing")
            elif not self._covered(path):
                self._record(path, self.get(path), "unknown", "-",
                             "not a field of this file's documented format; ignored (check the spelling)")
        order = {path: index for index, path in enumerate(self._leaves(self.data, "", containers=True))}
        self.outcomes.sort(key=lambda row: order.get(row.field, len(order)))
        return self.outcomes

    # -- internals ---------------------------------------------------------------------------
    def _record(self, path: str, value: Any, status: Status, to: str, why: str) -> None:
        if value is MISSING or self._covered(path):
            return
        self._answered.add(path)
        self.outcomes.append(FieldOutcome(self.name, path, _show(path, value), status, to, why))

    def _covered(self, path: str) -> bool:
        """Answered itself, or inside an answered parent (a whole section mapped at once)."""
        parts = path.split(".")
        return any(".".join(parts[:end]) in self._answered for end in range(1, len(parts) + 1))

    @staticmethod
    def _leaves(node: Any, prefix: str, *, containers: bool = False) -> list[str]:
        """Dotted paths of the fields under *node*: leaves, and empty or non-mapping values."""
        if not isinstance(node, dict) or not node:
            return [prefix] if prefix else []
        paths = []
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if containers and isinstance(value, dict) and value:
                paths.append(path)
            paths += SourceFile._leaves(value, path, containers=containers)
        return paths


@dataclass
class ImportReport:
    """Every source file's rows, plus the files written."""

    rows: list[FieldOutcome] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def by_status(self, status: Status) -> list[FieldOutcome]:
        return [row for row in self.rows if row.status == status]
