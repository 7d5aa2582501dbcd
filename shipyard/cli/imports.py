"""``shipyard import``: Azure ML deployment files -> ``shipyard.yaml`` + ``deployment.yaml``, with a report."""

from __future__ import annotations

import sys
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
    # A terminal shows the table at its width; a file or pipe gets one line per row, wide enough for all.
    console = console or Console(width=None if sys.stdout.isatty() else 240)
    table = Table(title="shipyard import: every source field", show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("field", overflow="fold")
    table.add_column("value", max_width=30, overflow="ellipsis", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("became", overflow="fold")
    table.add_column("why / note", overflow="fold", min_width=30)
    for row in report.rows:
        table.add_row(row.file, row.field, row.value, f"[{_STYLE[row.status]}]{row.status}[/]", row.to, row.why)
    console.print(table)
    counts = {status: len(report.by_status(status)) for status in _STYLE}
    console.print(", ".join(f"{count} {status}" for status, count in counts.items()))
    for note in report.notes:
        console.print(f"note: {note}")
    for path in report.written:
        if path.name in ("shipyard.yaml", "deployment.yaml"):
            console.print(f"wrote {path}")
