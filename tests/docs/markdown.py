"""The shell examples and the names (flags, environment variables) in README.md and docs/*.md.

A fenced ``console``/``bash``/``sh``/``shell`` block is a list of commands; in a ``console`` block
the lines after a ``$ `` command, up to the next one, are the output it shows. A directive in an
HTML comment on the last non-blank line before the fence says how the test treats the block::

    <!-- doc-test: skip: builds an image (scripts/quickstart.sh runs this) -->
    <!-- doc-test: serve -->                   the first command is a server, run in the background
    <!-- doc-test: cwd=examples/iris -->       run in that folder of the workspace
    <!-- doc-test: file=shipyard.yaml -->      write the nearest ```yaml block above to that file first
    <!-- doc-test: any-output: keys and ports change with every run -->

Directives combine with ``;`` (``cwd=examples/iris; file=shipyard.yaml``). A block without a
directive is run, and its shown output compared (``...`` stands for any text or lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = ("console", "bash", "sh", "shell")
_FENCE = re.compile(r"^\s*```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:\s*(.*?)\s*-->\s*$")


def doc_files() -> list[Path]:
    """README.md and every page under docs/ (pages other engineers add are checked too)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass
class Command:
    """One shell command of a block and the output the docs show for it (``None``: none shown)."""

    text: str
    output: list[str] | None = None


@dataclass
class Block:
    """One fenced shell block."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    body: list[str]
    directives: dict[str, str] = field(default_factory=dict)
    yaml_above: str | None = None  # the nearest ```yaml block before this one

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[Command]:
        """The commands, with ``\\`` continuations joined; outputs for ``console`` blocks."""
        commands: list[Command] = []
        prompt = self.language == "console"
        lines = iter(self.body)
        for line in lines:
            stripped = line.strip()
            if prompt and not stripped.startswith("$ "):
                if commands:
                    commands[-1].output = [*(commands[-1].output or []), line.rstrip()]
                continue
            if not prompt and (not stripped or stripped.startswith("#")):
                continue
            text = stripped[2:] if prompt else stripped
            while text.endswith("\\"):
                text = text[:-1] + " " + next(lines).strip()
            commands.append(Command(text))
        for command in commands:  # trailing blank lines are layout, not output
            while command.output and not command.output[-1].strip():
                command.output.pop()
        return commands


def shell_blocks(path: Path) -> list[Block]:
    """Every shell block of *path*, with its directives."""
    lines = path.read_text().splitlines()
    blocks: list[Block] = []
    yaml_above: str | None = None
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        language, body = match.group(1), lines[index + 1:end]
        if language in ("yaml", "yml"):
            yaml_above = "\n".join(body) + "\n"
        elif language in SHELL_LANGUAGES:
            blocks.append(Block(path, index + 1, language, body, _directives(lines, index), yaml_above))
        index = end + 1
    return blocks


def _directives(lines: list[str], fence: int) -> dict[str, str]:
    before = fence - 1
    while before >= 0 and not lines[before].strip():
        before -= 1
    match = _DIRECTIVE.match(lines[before]) if before >= 0 else None
    if not match:
        return {}
    directives = {}
    rest = match.group(1)
    while rest.strip():
        part, _, rest = rest.partition(";")
        part = part.strip()
        if part.startswith(("skip", "any-output")):  # the reason is free text, semicolons included
            key, _, value = (part + (";" + rest if rest else "")).partition(":")
            directives[key.strip()] = value.strip()
            break
        key, _, value = part.partition("=")
        directives[key.strip()] = value.strip()
    return directives


def output_matches(shown: list[str], real: list[str]) -> bool:
    """Whether *real* output lines fit the *shown* ones: a ``...`` line is any lines, ``...`` in a
    line any text, and trailing whitespace does not count."""
    pattern = ""
    for line in shown:
        if line.strip() == "...":
            pattern += r"(?:.*\n)*?"
        else:
            pattern += ".*".join(re.escape(part) for part in line.rstrip().split("...")) + r"[ \t]*\n"
    text = "".join(line.rstrip() + "\n" for line in real)
    return re.fullmatch(pattern, text) is not None
