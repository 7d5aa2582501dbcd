"""``shipyard import``: Azure ML deployment files -> ``shipyard.yaml`` + ``deployment.yaml``, with a report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from shipyard.importers import ImportReport, import_files

_STYLE = {"mapped": "green", "not applicable": "yellow", "unknown": "red"}


def register(app: typer.Typer) -> None:
    """Add this module's command to *app*."""
    app.command("import")(import_command)


def import_command(
    files: list[Path] = typer.Argument(..., help="Azure ML files: v1 inferenceconfig.json, deploymentconfig.json; "
                                                     "or a v2 online deployment YAML (+ its endpoint YAML)."),
    output: Path = typer.Option(..., "--output", "-o", file_okay=False,
                                help="Folder to write shipyard.yaml, deployment.yaml and the copied sources to."),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m",
                                              help="Model file or folder, or NAME:VERSION from the model registry "
                                                   "(repeat); v1 configs name none, and it replaces a v2 "
                                                   "deployment's model."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Service name (default: the v2 endpoint's, else the output folder's)."),
    registry: Optional[str] = typer.Option(None, "--registry", help="Model registry for NAME:VERSION references "
                                           "(oci://HOST/PREFIX or a folder; default: the local store)."),
) -> None:
    """Translate Azure ML deployment files and print what became of every field."""
    report = import_files(files, output, models=model or [], name=name, registry=registry)
    print_report(report)


def print_report(report: ImportReport, console: Console | None = None) -> None:
    """The report as a table: every source field, what it became or why it does not apply."""
    console = console or Console(width=200, soft_wrap=True)
    table = Table(title="shipyard import: every source field", show_lines=False)
    for column in ("file", "field", "value", "status", "became", "why / note"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        table.add_row(row.file, row.field, row.value, f"[{_STYLE[row.status]}]{row.status}[/]", row.to, row.why)
    console.print(table)
    counts = {status: len(report.by_status(status)) for status in _STYLE}
    console.print(", ".join(f"{count} {status}" for status, count in counts.items()))
    for path in report.written:
        if path.name in ("shipyard.yaml", "deployment.yaml"):
            console.print(f"wrote {path}")
