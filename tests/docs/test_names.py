"""Every flag and environment variable the docs name exists in the program.

Flags come from the CLI itself (typer/click introspection of every command): a ``shipyard ...``
command line, in a shell block or an inline code span, may only use options of that command; any
other ``--flag`` in the docs must be an option of some ``shipyard`` command, or a flag of another
tool listed in :data:`OTHER_TOOLS` with that tool's name. ``SHIPYARD_*``, ``AZUREML_*`` and
``AML_*`` variables must be read by the runtime's settings, a deploy target's settings, a CLI
option's ``envvar``, or the shipped code and scripts (which set or read them by name).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from shipyard.cli import app
from tests.docs.markdown import ROOT, doc_files, shell_blocks

OTHER_TOOLS: dict[str, str] = {
    # flags of other programs that the docs show; each with the program it belongs to
    "--index-url": "pip", "--extra-index-url": "pip", "--find-links": "pip", "--trusted-host": "pip",
    "--pre": "pip", "--prefer-binary": "pip", "--only-binary": "pip", "--no-binary": "pip", "--hash": "pip",
    "--target": "pip install --target (and shipyard deploy)", "--no-deps": "pip", "--content": "az iot edge set-modules",
    "--gpus": "docker run (and shipyard deploy)", "--env-file": "docker run", "--label-file": "docker run",
    "--security-opt": "docker run", "--rm": "docker run", "--net": "nsenter", "--model-repository": "tritonserver",
    "--verify": "install.sh", "--help": "every command", "--rounds": "bench/runtime/run.py",
    "--allow-cpu": "bench/gpu_check.py", "--requests": "bench/gpu_check.py", "--batch": "bench/gpu_check.py",
    "--no-access-log": "bench/runtime/app_cost.py", "--script": "bench/runtime/app_cost.py",
    "--concurrency": "bench/runtime/instructions.py", "--seconds": "bench/runtime/instructions.py",
    "--model_dir": "azmlinfsrv", "--entry_script": "azmlinfsrv", "--port": "azmlinfsrv (and shipyard)",
    "--worker_count": "azmlinfsrv", "--health_port": "azmlinfsrv",
    "--ic": "az ml model deploy", "--dc": "az ml model deploy", "--deploy-config-file": "az ml model deploy",
    "--entrypoint": "docker run", "--variant": "debootstrap", "--include": "debootstrap",
    "--user": "pip", "--editable": "pip", "--config-settings": "pip", "--global-option": "pip",
    "--use-feature": "pip", "--require-hashes": "pip", "--no-index": "pip",
    "--pid": "py-spy", "--threads": "py-spy", "--format": "py-spy", "--duration": "py-spy",
    "--azml-version": "bench/ scripts", "--models": "bench/ scripts", "--no-pin": "bench/ scripts",
    "--out": "bench/ scripts", "--servers": "bench/ scripts", "--shipyard-delay-us": "bench/ scripts",
    "--venvs": "bench/ scripts", "--warmup": "bench/ scripts", "--protocols": "bench/protocols/run.py", "--paired-protocol": "bench/batching/run.py", "--appinsights_instrumentation_key": "azmlinfsrv",
    "--access_control_allow_origins": "azmlinfsrv", "--debug_port": "azmlinfsrv",
    "--paired-rounds": "bench/batching/run.py", "--serve": "bench/batching/inprocess.py", "--work-dir": "bench/ scripts",
    "--minutes": "bench/runtime/soak.py", "--sample": "bench/runtime/soak.py", "--kill-every": "bench/runtime/soak.py",
}

_FLAG = re.compile(r"(?<![\w/-])--[a-z][a-z0-9_-]*[a-z0-9](?![\w*-])")  # not a pattern such as --health-*
_VARIABLE = re.compile(r"\b(?:SHIPYARD|AZUREML|AML)_[A-Z0-9_]*[A-Z0-9]\b")
_INLINE = re.compile(r"`([^`\n]+)`")


def _commands() -> dict[tuple[str, ...], object]:
    """Every command by its path (``("deploy",)``, ``("base-image", "build")``)."""
    found: dict[tuple[str, ...], object] = {}

    def walk(command: object, path: tuple[str, ...]) -> None:
        found[path] = command
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()


def _options(command: object) -> set[str]:
    names = {"--help"}
    for param in command.params:  # type: ignore[attr-defined]
        if param.param_type_name == "option":
            names.update(name for name in [*param.opts, *param.secondary_opts] if name.startswith("--"))
    return names


ALL_FLAGS = set().union(*(_options(command) for command in COMMANDS.values()))


def _shipyard_lines(path: Path) -> list[tuple[str, str]]:
    """(where, command line) for each ``shipyard ...`` command in *path*'s shell blocks and code spans."""
    lines = []
    for block in shell_blocks(path):
        for command in block.commands():
            lines.append((block.id, command.text))
    text = path.read_text()
    for match in _INLINE.finditer(text):
        if match.group(1).startswith("shipyard "):
            lines.append((f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}", match.group(1)))
    return lines


def _check_line(line: str) -> list[str]:
    """What is wrong with the ``shipyard`` invocations in one command line."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        tokens = line.split()
    problems = []
    for start, token in enumerate(tokens):
        if token != "shipyard" and not token.endswith("/shipyard"):
            continue
        path: tuple[str, ...] = ()
        index = start + 1
        while index < len(tokens) and (*path, tokens[index]) in COMMANDS:
            path, index = (*path, tokens[index]), index + 1
        command = COMMANDS[path]
        if getattr(command, "commands", None) and index < len(tokens) and not tokens[index].startswith("-"):
            if tokens[index] not in ("...", "COMMAND", "…"):
                problems.append(f"no command 'shipyard {' '.join((*path, tokens[index]))}'")
            continue
        allowed = _options(command)
        for token in tokens[index:]:
            if token in ("|", "&&", ";", "||"):
                break
            flag = token.strip("[]()").split("=", 1)[0]
            if _FLAG.fullmatch(flag) and flag.split("/")[0] not in allowed:
                problems.append(f"'shipyard {' '.join(path)}' has no option {flag}")
    return problems


@pytest.mark.parametrize("path", doc_files(), ids=lambda path: path.name)
def test_shipyard_command_lines_use_options_the_command_has(path: Path) -> None:
    problems = [f"{where}: {problem} (in `{line}`)" for where, line in _shipyard_lines(path)
                for problem in _check_line(line)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", doc_files(), ids=lambda path: path.name)
def test_every_flag_named_is_an_option_of_shipyard_or_of_a_named_tool(path: Path) -> None:
    text = path.read_text()
    unknown = sorted({flag for flag in _FLAG.findall(text) if flag not in ALL_FLAGS and flag not in OTHER_TOOLS})
    assert not unknown, (f"{path.name} names flags no shipyard command has: {unknown}; fix the docs, or if they "
                         "belong to another program add them to OTHER_TOOLS in tests/docs/test_names.py")


def _settings_variables() -> set[str]:
    """Environment names read by the runtime's settings and each deploy target's settings model."""
    from pydantic import AliasChoices

    from shipyard.deploy_targets.registry import load_target_class, target_names
    from shipyard.runtime.settings import RuntimeSettings

    models = [RuntimeSettings, *(load_target_class(name).settings_model for name in target_names())]
    names: set[str] = set()
    for model in models:
        prefix = (getattr(model, "model_config", {}) or {}).get("env_prefix", "") or ""
        for field_name, info in model.model_fields.items():
            alias = info.validation_alias
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if isinstance(alias, str) else []
            names.update(choice for choice in choices if isinstance(choice, str) and choice.isupper())
            if prefix:
                names.add(f"{prefix}{field_name}".upper())
    return names


def _cli_variables() -> set[str]:
    names: set[str] = set()
    for command in COMMANDS.values():
        for param in command.params:  # type: ignore[attr-defined]
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def _code_variables() -> set[str]:
    """Names the shipped code and scripts use as strings or shell variables (set for score.py, baked, read)."""
    sources = [*(ROOT / "shipyard").rglob("*.py"), *(ROOT / "shipyard").rglob("*.sh"),
               *(ROOT / "shipyard").rglob("*.j2"), *(ROOT / "scripts").glob("*.sh")]
    quoted = re.compile(r"""["'$`{](?P<name>(?:SHIPYARD|AZUREML|AML)_[A-Z0-9_]*[A-Z0-9])\b""")
    return {match.group("name") for source in sources for match in quoted.finditer(source.read_text())}


KNOWN_VARIABLES = _settings_variables() | _cli_variables() | _code_variables()


@pytest.mark.parametrize("path", doc_files(), ids=lambda path: path.name)
def test_every_variable_named_is_read_or_set_by_shipyard(path: Path) -> None:
    unknown = sorted(set(_VARIABLE.findall(path.read_text())) - KNOWN_VARIABLES)
    assert not unknown, f"{path.name} names environment variables Shipyard neither reads nor sets: {unknown}"


def test_the_checks_see_the_options_and_variables_they_check() -> None:
    """The introspection finds what it must, so the checks above cannot pass by seeing nothing."""
    assert {"--model-dir", "--log-probes", "--target", "--output", "--base-image", "--extra-ca"} <= ALL_FLAGS
    assert {"SHIPYARD_MODEL_DIR", "AZUREML_MODEL_DIR", "SHIPYARD_LOG_PROBES", "SHIPYARD_BASE_IMAGE",
            "SHIPYARD_NAMESPACE"} <= KNOWN_VARIABLES
    assert _check_line("shipyard serve --model-dir m --no-such-flag") == ["'shipyard serve' has no option --no-such-flag"]
    assert _check_line("shipyard build --tag x") == ["no command 'shipyard build'"]
    assert _check_line("shipyard base-image build --tag x --platform linux/arm64") == []
