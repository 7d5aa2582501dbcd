"""``shipyard model register/list/show/download/delete``: the model registry (local store or OCI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from shipyard.model_registry import ModelVersion, open_registry, parse_reference

model_app = typer.Typer(name="model", help="Register models by name and version (Model.register, "
                                           "'az ml model create'): a local store, or an OCI registry.",
                        no_args_is_help=True)
_REGISTRY = typer.Option(None, "--registry", help="oci://HOST[:PORT]/PREFIX or a folder (default: "
                                                  "SHIPYARD_MODEL_REGISTRY, else ~/.local/share/shipyard/models).")
_JSON = typer.Option(False, "--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    """Add the ``model`` command group to *app*."""
    app.add_typer(model_app)


def _print(model: ModelVersion, as_json: bool) -> None:
    if as_json:
        typer.echo(model.model_dump_json(indent=2))
        return
    tags = ", ".join(f"{k}={v}" for k, v in sorted(model.tags.items())) or "-"
    typer.echo(f"{model.reference}  {model.kind}, {len(model.files)} file(s), {model.size} bytes, "
               f"created {model.created}, tags: {tags}")


@model_app.command("register")
def register_model(
    name: str = typer.Argument(..., help="Model name (lower-case letters, digits, '.', '_', '-')."),
    path: Path = typer.Argument(..., help="The model file or folder."),
    version: Optional[int] = typer.Option(None, "--version", help="Version number (default: the next one)."),
    tag: Optional[list[str]] = typer.Option(None, "--tag", help="KEY=VALUE (repeat)."),
    registry: Optional[str] = _REGISTRY,
    as_json: bool = _JSON,
) -> None:
    """Store a model file or folder as a new version."""
    _print(open_registry(registry).register(name, path, version=version, tags=tag or []), as_json)


@model_app.command("list")
def list_models(
    name: Optional[str] = typer.Argument(None, help="Only this model's versions."),
    registry: Optional[str] = _REGISTRY,
    as_json: bool = _JSON,
) -> None:
    """List registered models and versions."""
    found = open_registry(registry).list_versions(name)
    if as_json:
        typer.echo(json.dumps([model.model_dump(mode="json") for model in found], indent=2))
    for model in [] if as_json else found:
        _print(model, False)


@model_app.command("show")
def show_model(
    reference: str = typer.Argument(..., help="NAME:VERSION, or NAME for the latest."),
    registry: Optional[str] = _REGISTRY,
) -> None:
    """Print one version's record (files, SHA-256 digests, tags) as JSON."""
    name, version = parse_reference(reference)
    _print(open_registry(registry).show(name, version), True)


@model_app.command("download")
def download_model(
    reference: str = typer.Argument(..., help="NAME:VERSION, or NAME for the latest."),
    output: Path = typer.Option(..., "--output", "-o", file_okay=False, help="Folder to write the files into."),
    registry: Optional[str] = _REGISTRY,
) -> None:
    """Write a version's files into a folder, each checked against its SHA-256."""
    name, version = parse_reference(reference)
    typer.echo(f"wrote {open_registry(registry).download(name, version, output)}")


@model_app.command("delete")
def delete_model(
    reference: str = typer.Argument(..., help="NAME:VERSION to delete."),
    registry: Optional[str] = _REGISTRY,
) -> None:
    """Delete one version."""
    name, version = parse_reference(reference)
    if version is None:
        raise typer.BadParameter("say which version: NAME:VERSION", param_hint="REFERENCE")
    open_registry(registry).delete(name, version)
    typer.echo(f"deleted {name}:{version}")
