"""Every shell example in README.md and docs/*.md runs as shown, or says in the markdown why not.

Each block runs in one ``bash`` in a scratch copy of ``examples/`` (the iris model trained once),
with this checkout's ``shipyard`` first on PATH; the output each ``$`` command shows is compared
with what it prints (see :func:`tests.docs.markdown.output_matches`). Blocks that build images,
need a device, a GPU or minutes of benchmark carry a ``skip`` directive with the reason, and are
covered elsewhere (``scripts/quickstart.sh``, tests/deploy_targets, bench/).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.markdown import ROOT, Block, doc_files, output_matches, shell_blocks
from tests.fixtures.servers import free_port

BLOCKS = [block for path in doc_files() for block in shell_blocks(path)]
BLOCK_TIMEOUT_S = 120
_RC = re.compile(r"^@@DOC-TEST RC (\d+)@@$")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of examples/ with the iris model trained, and a ``bin/shipyard`` running this checkout."""
    root = tmp_path_factory.mktemp("docs")
    shutil.copytree(ROOT / "examples", root / "examples", ignore=shutil.ignore_patterns("model", "__pycache__"))
    subprocess.run([sys.executable, str(root / "examples/iris/train.py"), "--out", str(root / "examples/iris/model")],
                   check=True, capture_output=True, timeout=300)
    (root / "bin").mkdir()
    shim = root / "bin" / "shipyard"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m shipyard "$@"\n')
    shim.chmod(0o755)
    return root


def test_every_block_runs_or_says_why_not() -> None:
    """A skip needs its reason; a directive must be one the runner knows."""
    known = {"skip", "serve", "cwd", "file", "any-output"}
    for block in BLOCKS:
        assert set(block.directives) <= known, f"{block.id}: unknown doc-test directive in {block.directives}"
        if "skip" in block.directives:
            assert block.directives["skip"], f"{block.id}: say why the block is not run: <!-- doc-test: skip: WHY -->"
    assert len([block for block in BLOCKS if "skip" not in block.directives]) >= 5


def _script(block: Block, workspace: Path, port: int) -> str:
    """The bash program for *block*: each command's output between markers, then its exit status."""
    lines = ["set -u", f"cd {shlex.quote(str(workspace / block.directives.get('cwd', '')))}",
             "trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null' EXIT"]
    if "file" in block.directives:
        assert block.yaml_above, f"{block.id}: file= needs a ```yaml block above it"
        lines.append(f"cat > {shlex.quote(block.directives['file'])} <<'DOC_TEST_EOF'\n{block.yaml_above}DOC_TEST_EOF")
    commands = block.commands()
    for index, command in enumerate(commands):
        text = command.text.replace("5001", str(port)) if "serve" in block.directives else command.text
        if index == 0 and "serve" in block.directives:
            lines.append(f"( {text} ) > doc-test-server.log 2>&1 &")
            lines.append(f"for _ in $(seq 300); do curl -sf -o /dev/null http://127.0.0.1:{port}/v2/health/ready "
                         "&& break; sleep 0.2; done")
            lines.append("printf '\\n@@DOC-TEST RC 0@@\\n'")
            continue
        lines.append(f"( {text}\n) 2>&1; printf '\\n@@DOC-TEST RC %s@@\\n' \"$?\"")
    return "\n".join(lines) + "\n"


def _outputs(stdout: str) -> list[tuple[list[str], int]]:
    """(output lines, exit status) per command, from the runner's markers."""
    results: list[tuple[list[str], int]] = []
    current: list[str] = []
    for line in stdout.splitlines():
        match = _RC.match(line)
        if match:
            while current and not current[-1].strip():
                current.pop()
            results.append((current, int(match.group(1))))
            current = []
        else:
            current.append(line)
    return results


@pytest.mark.parametrize("block", [b for b in BLOCKS if "skip" not in b.directives], ids=lambda block: block.id)
def test_shell_example(block: Block, workspace: Path) -> None:
    env = {**os.environ, "PATH": f"{workspace / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("DOCKER_HOST", None) if env.get("DOCKER_HOST", "").startswith("tcp://10.200.") else None
    process = subprocess.Popen(["bash", "-c", _script(block, workspace, free_port())], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=BLOCK_TIMEOUT_S)
    finally:  # a command that never ends (a server not marked serve) takes its whole group along
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    outputs = _outputs(stdout)
    commands = block.commands()
    log = workspace / block.directives.get("cwd", "") / "doc-test-server.log"
    server_log = log.read_text() if "serve" in block.directives and log.exists() else ""
    assert len(outputs) == len(commands), f"{block.id}: the block stopped early:\n{stdout}\n{stderr}"
    for command, (real, status) in zip(commands, outputs, strict=True):
        shows_error = any(line.startswith("error:") for line in command.output or [])
        assert status == 0 or shows_error, (
            f"{block.id}: `{command.text}` exited {status}:\n" + "\n".join(real) + server_log)
        if command.output and "any-output" not in block.directives:
            assert output_matches(command.output, real), (
                f"{block.id}: `{command.text}` printed\n" + "\n".join(real)
                + "\n--- but the docs show ---\n" + "\n".join(command.output))
