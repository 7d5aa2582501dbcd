"""Follow a classic Docker build's JSON log: steps, cache hits, output, and what went wrong.

The engine reports ``Step N/M : INSTRUCTION``, then `` ---> Using cache`` or
`` ---> Running in <id>`` and the command's output, and finally an ``error`` record with
``errorDetail.code``. :class:`BuildLog` turns that stream into :class:`BuildEvent` objects for a
progress display, keeps per-step records (so callers and tests can see which layers came from the
cache) and, on failure, builds an error that names the step, its command, its exit code, the tail
of its output and, for pip and apt failures, the package that could not be installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.utils import canonicalize_name

from shipyard.errors import BuildStepError

EventKind = Literal["step", "cached", "running", "output", "done", "check"]
TAIL_LINES = 20

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]+)$")
_EXIT_CODE = re.compile(r"returned a non-zero code: (\d+)")
_PIP_MISSING = (
    re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)"),
    re.compile(r"Could not find a version that satisfies the requirement ([A-Za-z0-9][A-Za-z0-9._-]*)"),
)
_PIP_BUILD = re.compile(r"Failed building wheel for ([A-Za-z0-9][A-Za-z0-9._-]*)|"
                        r"Building wheel for ([A-Za-z0-9][A-Za-z0-9._-]*) \S* ?did not run successfully")
_PIP_CONFLICT = re.compile(r"(?:Cannot install|conflict is caused by:\n\s+The user requested) "
                           r"([A-Za-z0-9][A-Za-z0-9._-]*)|^([A-Za-z0-9][A-Za-z0-9._-]*) [^\n]* has requirement", re.MULTILINE)
#: What pip prints when it skips an index whose certificate it cannot verify (pip 20-25, urllib3 1 and 2).
_TLS_MARKERS = ("CERTIFICATE_VERIFY_FAILED", "SSLCertVerificationError", "problem confirming the ssl certificate")
_UNREACHABLE_MARKERS = ("Temporary failure in name resolution", "Name or service not known",
                        "Failed to establish a new connection", "Max retries exceeded")
_APT_MISSING = re.compile(r"E: (?:Unable to locate package |Package '?)([a-z0-9][a-z0-9+.-]*)")


@dataclass(frozen=True)
class BuildEvent:
    """One thing that happened during a build, for progress displays."""

    kind: EventKind
    step: int | None = None
    total: int | None = None
    text: str = ""


@dataclass
class StepRecord:
    """One Dockerfile step as the engine ran it."""

    number: int
    total: int
    instruction: str
    cached: bool = False
    output: list[str] = field(default_factory=list)


@dataclass
class BuildLog:
    """Accumulates a build's JSON records; see the module docstring."""

    progress: Callable[[BuildEvent], None] | None = None
    origins: dict[str, str] = field(default_factory=dict)
    """Canonical pip name -> where the user asked for it, to point at the line to fix."""
    steps: list[StepRecord] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    image_id: str | None = None

    def feed(self, record: dict[str, Any]) -> None:
        """Take one decoded record from the engine's build stream.

        Raises:
            BuildStepError: the record reports the build's failure.
        """
        if "error" in record:
            raise self._failure(record)
        if isinstance(record.get("aux"), dict) and "ID" in record["aux"]:
            self.image_id = record["aux"]["ID"]
        for line in str(record.get("stream", "")).splitlines():
            self._line(line)

    def built_id(self) -> str:
        """The built image's (short) ID from the log, for engines that send no ``aux`` record."""
        for line in reversed(self.lines):
            match = _BUILT.match(line.strip())
            if match:
                return match[1]
        raise BuildStepError("the build finished without reporting an image ID", log_tail=self.lines[-TAIL_LINES:])

    def _line(self, line: str) -> None:
        self.lines.append(line)
        match = _STEP.match(line)
        if match:
            step = StepRecord(int(match[1]), int(match[2]), match[3].strip())
            self.steps.append(step)
            self._emit("step", step, step.instruction)
        elif not self.steps:
            return
        elif line.strip() == "---> Using cache":
            self.steps[-1].cached = True
            self._emit("cached", self.steps[-1])
        elif line.strip().startswith("---> Running in"):
            self._emit("running", self.steps[-1])
        elif line.startswith((" ---> ", "Removing intermediate container")):
            return
        elif line.startswith(("Successfully built", "Successfully tagged")):
            self._emit("done", None, line)
        else:
            self.steps[-1].output.append(line)
            self._emit("output", self.steps[-1], line)

    def _emit(self, kind: EventKind, step: StepRecord | None, text: str = "") -> None:
        if self.progress is not None:
            self.progress(BuildEvent(kind, step.number if step else None, step.total if step else None, text))

    def _failure(self, record: dict[str, Any]) -> BuildStepError:
        detail = record.get("errorDetail") or {}
        message = str(detail.get("message") or record["error"]).strip()
        exit_code = detail.get("code")
        match = _EXIT_CODE.search(message)
        if exit_code is None and match:
            exit_code = int(match[1])
        step = self.steps[-1] if self.steps else None
        tail = (step.output if step else self.lines)[-TAIL_LINES:]
        package, hint = diagnose(step.output if step else self.lines)
        where = f"step {step.number}/{step.total} failed: {step.instruction}" if step else "the build failed"
        parts = [where]
        if exit_code is not None:
            parts.append(f"exit code {exit_code}")
        else:
            parts.append(message)
        if hint:
            parts.append(hint)
        origin = origin_hint(package, self.origins)
        if origin:
            parts.append(origin)
        if tail:
            parts.append("last lines of its output:\n" + "\n".join(f"  {line}" for line in tail))
        return BuildStepError("\n".join(parts), step=step.number if step else None,
                              instruction=step.instruction if step else None, exit_code=exit_code,
                              log_tail=tail, package=package)


def diagnose(output: list[str]) -> tuple[str | None, str | None]:
    """Name the package a failed pip/apt step could not install, with advice. (None, None) if unknown.

    Network causes are looked at first: when pip cannot verify an index's certificate or reach it,
    it skips the index and then reports "No matching distribution found", which would otherwise
    send the user to check a name and pin that were right all along.
    """
    text = "\n".join(output)
    missing = next((found[1] for pattern in _PIP_MISSING if (found := pattern.search(text))), None)
    if any(marker in text for marker in _TLS_MARKERS):
        return missing, ("TLS certificate verification failed: pip could not verify the package index's "
                         "certificate (a TLS-intercepting proxy, or an index with a private CA). Pass the "
                         "proxy's or index's CA bundle with --extra-ca FILE (or build.ca_bundle in the spec); "
                         "the package name and version pin are not the problem")
    if any(marker in text for marker in _UNREACHABLE_MARKERS):
        return missing, ("the package index could not be reached: set build.pip.index_url to a reachable "
                         "mirror, or pass HTTPS_PROXY to shipyard build-image")
    if missing:
        return missing, (f"pip could not install '{missing}': the package index has no matching distribution "
                         "for this Python version and platform. Check the name and version pin (conda-only "
                         "names need their PyPI name) or the index settings (build.pip)")
    found = _PIP_BUILD.search(text)
    if found:
        name = found[1] or found[2]
        return name, (f"pip could not build '{name}' from source; add the compilers or headers it needs to "
                      "build.system_packages (e.g. build-essential), or pin a version with a wheel")
    found = _PIP_CONFLICT.search(text)
    if found:
        name = found[1] or found[2]
        return name, (f"the environment's version pins conflict with each other or with the runtime's "
                      f"dependencies (shipyard/runtime/requirements.txt) around '{name}'; relax the pin")
    found = _APT_MISSING.search(text)
    if found:
        name = found[1]
        return name, f"apt could not find the Debian package '{name}' in the base image's sources"
    return None, None


def origin_hint(package: str | None, origins: dict[str, str]) -> str | None:
    """Where a failing package came from in the user's files, if it came from there."""
    if package is None:
        return None
    origin = origins.get(canonicalize_name(package))
    return f"'{package}' comes from {origin}" if origin else None
