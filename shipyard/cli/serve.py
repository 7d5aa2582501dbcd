"""``shipyard serve``: run the scoring service locally, the same way an image runs it.

Flags override the environment (``SHIPYARD_*``, ``AZUREML_MODEL_DIR``...), which overrides the
defaults; the help texts come from :class:`~shipyard.runtime.settings.RuntimeSettings`, the one
place the settings are defined.
"""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.runtime.settings import RuntimeSettings


def _help(field: str) -> str:
    return RuntimeSettings.model_fields[field].description or ""


def serve(
    context: typer.Context,
    model_dir: str = typer.Option(None, "--model-dir", help=_help("model_dir")),
    entry_script: Path = typer.Option(None, "--entry-script", help=_help("entry_script")),
    host: str = typer.Option(None, "--host", help=_help("host") + " (default 0.0.0.0)"),
    port: int = typer.Option(None, "--port", help=_help("port") + " (default 5001)"),
    grpc_port: int = typer.Option(None, "--grpc-port", help=_help("grpc_port")),
    health_port: int = typer.Option(None, "--health-port", help=_help("health_port")),
    data_collection_dir: Path = typer.Option(None, "--data-collection-dir", help=_help("data_collection_dir")),
    workers: int = typer.Option(None, "--workers", help=_help("workers") + " (default 1)"),
    scoring_threads: int = typer.Option(None, "--scoring-threads", help=_help("scoring_threads")),
    scoring_mode: str = typer.Option(None, "--scoring-mode", help=_help("scoring_mode")),
    max_batch_size: int = typer.Option(None, "--max-batch-size", help=_help("max_batch_size")),
    max_queue_delay_us: int = typer.Option(None, "--max-queue-delay-us", help=_help("max_queue_delay_us")),
    preferred_batch_size: list[int] = typer.Option(None, "--preferred-batch-size",
                                                   help=_help("preferred_batch_sizes") + " Repeatable."),
    model_name: str = typer.Option(None, "--model-name", help=_help("model_name")),
    model_version: str = typer.Option(None, "--model-version", help=_help("model_version")),
    api_key: list[str] = typer.Option(None, "--api-key", help=_help("api_keys") + " Repeatable; visible "
                                      "to every local user in ps: prefer --api-key-file or SHIPYARD_API_KEYS."),
    api_key_file: Path = typer.Option(None, "--api-key-file", help=_help("api_keys_file")),
    cors_origin: list[str] = typer.Option(None, "--cors-origin", help=_help("cors_origins") + " Repeatable."),
    max_body_bytes: int = typer.Option(None, "--max-body-bytes", help=_help("max_body_bytes")),
    request_timeout: float = typer.Option(None, "--request-timeout", help=_help("request_timeout_s")),
    log_format: str = typer.Option(None, "--log-format", help=_help("log_format")),
    log_probes: bool = typer.Option(None, "--log-probes", help=_help("log_probes")),
    max_requests: int = typer.Option(None, "--max-requests", help=_help("max_requests")),
    max_requests_jitter: int = typer.Option(None, "--max-requests-jitter", help=_help("max_requests_jitter")),
    max_worker_memory_mb: int = typer.Option(None, "--max-worker-memory-mb", help=_help("max_worker_memory_mb")),
) -> None:
    """Serve a model (score.py or a .onnx file) over HTTP (and gRPC with --grpc-port) until Ctrl-C or SIGTERM."""
    from shipyard.runtime import load_settings
    from shipyard.runtime import serve as run_server
    from shipyard.runtime.logconfig import configure_logging

    # typer hands repeatable flags over as tuples: an empty one must not hide the environment's value
    overrides = {_SETTING_OF.get(name, name): value or None if isinstance(value, (list, tuple)) else value
                 for name, value in context.params.items()}
    settings = load_settings(flag_names=setting_flags(context.command), **overrides)
    configure_logging(settings.log_level, settings.log_format)
    run_server(settings)


_SETTING_OF = {"api_key": "api_keys", "api_key_file": "api_keys_file", "cors_origin": "cors_origins",
               "request_timeout": "request_timeout_s", "preferred_batch_size": "preferred_batch_sizes"}
"""The settings whose flag is not the field's name (repeatable flags are singular)."""


def setting_flags(command: object) -> dict[str, str]:
    """Each setting's flag in *command* (``{"model_dir": "--model-dir"}``), read from the command itself."""
    return {_SETTING_OF.get(param.name or "", param.name or ""): param.opts[0]
            for param in command.params if param.param_type_name == "option"}  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    """Add ``serve`` to *app*."""
    app.command("serve")(serve)
