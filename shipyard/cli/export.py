"""``shipyard export-triton``: write a Triton Inference Server model repository for an ONNX model."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.builder.triton_repository import TritonOptions, export_triton_repository


def export_triton(
    model_dir: Path = typer.Option(..., "--model-dir", help="The .onnx file, or a folder holding exactly one."),
    output: Path = typer.Option(..., "--output", "-o", help="Triton model repository root to write into."),
    name: str = typer.Option(None, "--name", help="Model name in Triton (default: the .onnx file's stem)."),
    version: int = typer.Option(1, "--version", help="Version folder to write."),
    max_batch_size: int = typer.Option(
        None, "--max-batch-size", help="Largest batch Triton forms (default 8 when the model has a "
        "free first dimension, else 0 = no batching)."),
    preferred_batch_size: list[int] = typer.Option(
        [], "--preferred-batch-size", help="Batch sizes dynamic batching aims for (repeatable)."),
    max_queue_delay_us: int = typer.Option(
        0, "--max-queue-delay-us", help="How long a request may wait for a batch to fill."),
    instances: int = typer.Option(1, "--instances", help="Model copies Triton runs."),
    kind: str = typer.Option("cpu", "--kind", help="Where the copies run: cpu or gpu."),
    gpu: list[int] = typer.Option([], "--gpu", help="GPU index for --kind gpu instances (repeatable)."),
    execution_provider: list[str] = typer.Option(
        [], "--execution-provider", help="Spec execution providers; TensorRT and OpenVINO become "
        "Triton accelerators (repeatable, in order of preference)."),
) -> None:
    """Export an ONNX model as <output>/<name>/config.pbtxt + <output>/<name>/<version>/model.onnx."""
    options = TritonOptions(
        max_batch_size=max_batch_size, preferred_batch_sizes=tuple(preferred_batch_size),
        max_queue_delay_us=max_queue_delay_us, instance_count=instances,
        instance_kind=kind,  # type: ignore[arg-type]  # validated by the library
        gpus=tuple(gpu), execution_providers=tuple(execution_provider))
    root = export_triton_repository(model_dir, output, name=name, version=version, options=options)
    typer.echo(f"wrote {root / 'config.pbtxt'}")
    typer.echo(f"start Triton with: tritonserver --model-repository={root.parent}")


def register(app: typer.Typer) -> None:
    """Add ``export-triton`` to *app*."""
    app.command("export-triton")(export_triton)
