"""``shipyard export-triton``: write a Triton Inference Server model repository for an ONNX model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.builder.triton_repository import TritonOptions, export_triton_repository


def export_triton(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="The .onnx file, or a folder holding exactly one.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Triton model repository root to write into.")],
    name: Annotated[str | None, typer.Option(
        "--name", help="Model name in Triton (default: the .onnx file's stem).")] = None,
    version: Annotated[int, typer.Option("--version", help="Version folder to write.")] = 1,
    max_batch_size: Annotated[int | None, typer.Option(
        "--max-batch-size", help="Largest batch Triton forms (default 8 when the model has a free first "
        "dimension, else 0 = no batching).")] = None,
    preferred_batch_size: Annotated[list[int] | None, typer.Option(
        "--preferred-batch-size", help="Batch sizes dynamic batching aims for (repeatable).")] = None,
    max_queue_delay_us: Annotated[int, typer.Option(
        "--max-queue-delay-us", help="How long a request may wait for a batch to fill.")] = 0,
    instances: Annotated[int, typer.Option("--instances", help="Model copies Triton runs.")] = 1,
    kind: Annotated[str, typer.Option("--kind", help="Where the copies run: cpu or gpu.")] = "cpu",
    gpu: Annotated[list[int] | None, typer.Option(
        "--gpu", help="GPU index for --kind gpu instances (repeatable).")] = None,
    execution_provider: Annotated[list[str] | None, typer.Option(
        "--execution-provider", help="Spec execution providers; TensorRT and OpenVINO become Triton "
        "accelerators (repeatable, in order of preference).")] = None,
) -> None:
    """Export an ONNX model as <output>/<name>/config.pbtxt + <output>/<name>/<version>/model.onnx."""
    options = TritonOptions(
        max_batch_size=max_batch_size, preferred_batch_sizes=tuple(preferred_batch_size or ()),
        max_queue_delay_us=max_queue_delay_us, instance_count=instances,
        instance_kind=kind,  # type: ignore[arg-type]  # validated by the library
        gpus=tuple(gpu or ()), execution_providers=tuple(execution_provider or ()))
    root = export_triton_repository(model_dir, output, name=name, version=version, options=options)
    typer.echo(f"wrote {root / 'config.pbtxt'}")
    typer.echo(f"start Triton with: tritonserver --model-repository={root.parent}")


def register(app: typer.Typer) -> None:
    """Add ``export-triton`` to *app*."""
    app.command("export-triton")(export_triton)
