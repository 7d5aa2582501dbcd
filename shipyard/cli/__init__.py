"""The ``shipyard`` command: a thin layer over the Python API.

Each command group lives in its own module and only parses arguments, calls one public function
and prints the result. Errors from the library (:class:`shipyard.errors.ShipyardError`) become a
one-line message on stderr and the error's exit code, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from shipyard import __version__
from shipyard.cli import build, deploy, export, imports, model, serve
from shipyard.errors import ShipyardError

app = typer.Typer(
    name="shipyard",
    help="Build, serve and deploy models with an Azure ML style score.py, on any target.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shipyard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Shipyard: from a trained model to a running scoring service."""


serve.register(app)
build.register(app)
deploy.register(app)
export.register(app)
imports.register(app)
model.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ShipyardError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        sys.exit(exc.exit_code)
