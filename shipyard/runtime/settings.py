"""The runtime's settings: one model, read from CLI flags, then environment, then defaults.

This is the single contract between the three places that start a runtime: ``shipyard serve``
(flags), a built image (``ENV`` lines the builder bakes in) and a deploy target (environment
variables it passes at run time, such as the API keys, which never go into an image).

Every field reads ``SHIPYARD_<FIELD>``; a few also read the names Azure ML images use, so a
container started the Azure way behaves the same. When both are set, the Shipyard name wins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shipyard.runtime.auth import read_keys_file
from shipyard.runtime.fastpath.inline import ScoringMode

DEFAULT_PORT = 5001  # the port Azure ML images listen on; users' clients and probes expect it
DEFAULT_HEALTH_PORT = 5000  # azmlinfsrv's health port when SEPERATE_HEALTH_ENDPOINT=true


class RuntimeSettings(BaseSettings):
    """How one runtime process group serves one model."""

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", populate_by_name=True, extra="ignore")

    model_dir: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPYARD_MODEL_DIR", "AZUREML_MODEL_DIR", "model_dir"),
        description="Folder holding the model files, one model or several (azureml-models/<name>/<version>/); "
        "exported to score.py as AZUREML_MODEL_DIR exactly as given. Default: none (the working directory).",
    )
    entry_script: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPYARD_ENTRY_SCRIPT", "AZUREML_ENTRY_SCRIPT", "entry_script"),
        description="score.py with init()/run(); omit to serve a .onnx file in model_dir directly.",
    )
    app_root: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPYARD_APP_ROOT", "AML_APP_ROOT", "app_root"),
        description="Folder relative entry-script paths resolve against (Azure's AML_APP_ROOT).",
    )
    model_name: str | None = Field(default=None, description="Name in V2 routes; default: model_dir's name.")
    model_version: str = Field(default="1", description="Version reported by V2 metadata.")
    host: str = Field(default="0.0.0.0", description="Address to bind.")
    port: int = Field(
        default=DEFAULT_PORT,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("SHIPYARD_PORT", "port"),
        description="Port to listen on. Like azmlinfsrv 1.5.1, SERVER_PORT is not read but set to this port.",
    )
    health_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="A second port answering the same routes, for health probes (azmlinfsrv's --health_port). "
        "Default: none, or 5000 when SEPERATE_HEALTH_ENDPOINT=true.",
    )
    separate_health_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SEPERATE_HEALTH_ENDPOINT", "separate_health_endpoint"),
        description="azmlinfsrv's switch (its spelling): exactly 'true' opens the health port.",
        exclude=True,
    )
    data_collection_dir: Path | None = Field(
        default=None,
        description="Folder where azureml.monitoring.ModelDataCollector writes JSON lines. Default: none "
        "(collect() does nothing).",
    )
    grpc_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port for the Open Inference Protocol over gRPC (what tritonclient.grpc calls; Triton's is "
        "8001). Unset: no gRPC. Images set 8001.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        validation_alias=AliasChoices("SHIPYARD_WORKERS", "WORKER_COUNT", "workers"),
        description="Worker processes; each runs init() once.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Accepted 'Authorization: Bearer <key>' keys, comma-separated. Empty: auth off.",
    )
    api_keys_file: Path | None = Field(
        default=None,
        description="File with more accepted keys, one per line (# comments allowed); unlike --api-key, "
        "not visible in the process list. The container target mounts one read-only.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("SHIPYARD_CORS_ORIGINS", "AML_CORS_ORIGINS", "cors_origins"),
        description="Web origins browsers may call the service from (CORS), comma-separated; * for any. "
        "Empty: CORS off.",
    )
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias=AliasChoices("SHIPYARD_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS", "forwarded_allow_ips"),
        description="Addresses of reverse proxies whose X-Forwarded-For/-Proto headers are trusted for the "
        "client address (access log) and scheme, comma-separated; * for any. Empty: not read.",
    )
    max_body_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="Larger bodies get 413.")
    header_timeout_s: float = Field(
        default=30.0, gt=0,
        description="A client must send its request line and headers within this many seconds of connecting or "
        "of starting the request; else 408 and the connection is closed.",
    )
    body_idle_timeout_s: float = Field(
        default=30.0, gt=0,
        description="A request body may pause at most this many seconds between two reads; else 408 and the "
        "connection is closed.",
    )
    max_header_count: int = Field(default=100, ge=1, description="More request header fields get 431.")
    max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="A larger request line plus header fields gets 431."
    )
    inline_body_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="Request bodies larger than this are parsed, V2-decoded and scored on the scoring thread, "
        "never on the event loop, so health probes keep answering (auto and thread scoring modes).",
    )
    request_timeout_s: float = Field(
        default=60.0, gt=0, description="A request still running after this many seconds gets 504."
    )
    scoring_timeout_ms: float | None = Field(
        default=None,
        gt=0,
        validation_alias=AliasChoices("SCORING_TIMEOUT_MS", "scoring_timeout_ms"),
        description="Azure's name for the request timeout, in milliseconds; SHIPYARD_REQUEST_TIMEOUT_S wins.",
        exclude=True,
    )

    max_concurrent_requests: int | None = Field(
        default=None,
        ge=1,
        description="Scoring calls (/score, V2 infer) one worker runs at once; more wait in a queue (Azure's "
        "replica_max_concurrent_requests). Unset: no limit.",
    )
    max_queue: int = Field(
        default=100, ge=0, description="Scoring calls that may wait for a slot; more get 503 at once."
    )
    max_queue_wait_ms: float = Field(
        default=500.0,
        gt=0,
        description="How long a scoring call may wait for a slot before it gets 503 with Retry-After (Azure's "
        "max_request_wait_time, default 500).",
    )

    scoring_threads: int = Field(
        default=1,
        ge=1,
        description=(
            "Threads per worker that run init()/run(). 1 (the default, like Azure's sync workers) "
            "keeps score.py code that is not thread-safe safe; raise it only for thread-safe models."
        ),
    )
    scoring_mode: ScoringMode = Field(
        default="auto",
        description=(
            "Where run() runs: auto (on the scoring thread, or on the event loop once it has proved to "
            "answer within 1 ms), thread (always the scoring thread, init()'s thread), or inline (init() "
            "and run() on the event loop, like Azure's sync workers)."
        ),
    )
    max_batch_size: int = Field(
        default=0,
        ge=0,
        description="Dynamic batching for .onnx/.pt/.pt2 models (and score.py files that define run_batch()): "
        "concurrent requests run as one model call of up to this many rows. 0 or 1: off.",
    )
    max_queue_delay_us: int = Field(
        default=0,
        ge=0,
        description="Microseconds a request may wait for a batch to fill before it runs anyway (Triton's "
        "max_queue_delay_microseconds). 0: a batch is what queued while the model was busy.",
    )
    preferred_batch_sizes: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Batch sizes (rows) that run as soon as they are reached, without waiting out the queue "
        "delay, comma-separated (Triton's preferred_batch_size).",
    )
    max_requests: int | None = Field(
        default=None,
        ge=1,
        description="Replace a worker after it has served this many requests (plus jitter), gracefully: the "
        "replacement loads its model before the old worker stops. Unset: never (gunicorn's --max-requests).",
    )
    max_requests_jitter: int = Field(
        default=0,
        ge=0,
        description="Add a random 0..N to each worker's max_requests, so workers are not all replaced at once.",
    )
    max_worker_memory_mb: int | None = Field(
        default=None,
        ge=1,
        description="Replace a worker, gracefully, once its resident memory (RSS) exceeds this many MiB "
        "(checked every second; Linux). Unset: no ceiling.",
    )
    http_fast_paths: bool = Field(
        default=True,
        description="Write responses the short way (one send() per answer, the usual head formatted in a few "
        "passes; shipyard/runtime/fastpath/). false: uvicorn's own HTTP code, unchanged.",
    )
    graceful_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, how long in-flight requests may take to finish before workers stop.",
    )
    access_log: bool = Field(default=True, description="Log one line per request.")
    log_probes: bool = Field(
        default=False,
        description="Log health and readiness probes too (GET /, /v2/health/*, V2 model ready); "
        "off so the log shows traffic.",
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info",
        validation_alias=AliasChoices("SHIPYARD_LOG_LEVEL", "AZUREML_LOG_LEVEL", "log_level"),
        description="debug, info, warning or error (Azure's AZUREML_LOG_LEVEL is read too).",
    )
    log_format: Literal["console", "json"] = Field(
        default="console", description="console for people, json (one object per line) for log shippers."
    )

    execution_providers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Accelerators in order of preference, comma-separated (CUDA,TensorRT,OpenVINO,ROCm,VitisAI,CPU).",
    )
    strict_providers: bool = Field(
        default=False, description="Fail at start when the first execution provider is unavailable."
    )

    _flag_names: dict[str, str] = PrivateAttr(default_factory=dict)  # set by load_settings

    @field_validator("model_dir", mode="before")
    @classmethod
    def _path_as_given(cls, value: object) -> object:
        return os.fspath(value) if isinstance(value, os.PathLike) else value  # Python callers pass a Path

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value  # Azure spells them INFO, DEBUG

    @field_validator("api_keys", "cors_origins", "execution_providers", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("preferred_batch_sizes", mode="before")
    @classmethod
    def _split_sizes(cls, value: object) -> object:
        if isinstance(value, str):
            return [size.strip() for size in value.split(",") if size.strip()]
        return value

    @model_validator(mode="after")
    def _batch_sizes(self) -> RuntimeSettings:
        wrong = [size for size in self.preferred_batch_sizes if not 1 <= size <= max(self.max_batch_size, 1)]
        if wrong:
            raise ValueError(f"preferred batch sizes {wrong} must lie between 1 and max_batch_size "
                             f"({self.max_batch_size}); set SHIPYARD_MAX_BATCH_SIZE too")
        return self

    @field_validator("api_keys_file")
    @classmethod
    def _keys_file_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_keys_file(value)  # refuse an unreadable or empty file here, naming the setting
        return value

    @model_validator(mode="after")
    def _keys_from_file(self) -> RuntimeSettings:
        """Accept the keys file's keys as well as ``api_keys`` (read once, at start)."""
        if self.api_keys_file is not None:
            keys = [key for key in read_keys_file(self.api_keys_file) if key not in self.api_keys]
            self.__dict__["api_keys"] = [*self.api_keys, *keys]  # not marked as given on the command line
        return self

    @model_validator(mode="after")
    def _azure_timeout(self) -> RuntimeSettings:
        """Azure images set ``SCORING_TIMEOUT_MS``; honour it unless the Shipyard setting was given."""
        if self.scoring_timeout_ms is not None and "request_timeout_s" not in self.model_fields_set:
            # Not through __setattr__, which would mark the field as given (timeout_setting reads that).
            self.__dict__["request_timeout_s"] = self.scoring_timeout_ms / 1000.0
        return self

    @property
    def model_path(self) -> Path:
        """The model folder to load from: ``model_dir``, or the working directory when none is given."""
        return Path(self.model_dir) if self.model_dir else Path(".")

    @property
    def flag_names(self) -> dict[str, str]:
        """The command-line flag of each setting given as one (``{"model_dir": "--model-dir"}``): hints
        name what the user typed."""
        return dict(self._flag_names)

    @property
    def timeout_setting(self) -> str:
        """The setting the request timeout came from, as a 504 names it."""
        if "request_timeout_s" in self._flag_names:
            return self._flag_names["request_timeout_s"]
        if "request_timeout_s" in self.model_fields_set:
            return "SHIPYARD_REQUEST_TIMEOUT_S"
        if self.scoring_timeout_ms is not None:
            return f"SCORING_TIMEOUT_MS={self.scoring_timeout_ms:g}"
        return "the default; set SHIPYARD_REQUEST_TIMEOUT_S or --request-timeout"

    @property
    def recycles_workers(self) -> bool:
        """Whether workers are replaced now and then (which needs the supervisor, even for one worker)."""
        return self.max_requests is not None or self.max_worker_memory_mb is not None

    @property
    def resolved_model_name(self) -> str:
        """The model's name: ``model_name`` or the model folder's name."""
        return self.model_name or self.model_path.resolve().name

    @property
    def resolved_health_port(self) -> int | None:
        """The separate health port: ``health_port``, else 5000 when ``SEPERATE_HEALTH_ENDPOINT=true``."""
        if self.health_port is not None:
            return self.health_port
        return DEFAULT_HEALTH_PORT if self.separate_health_endpoint == "true" else None


def load_settings(flag_names: dict[str, str] | None = None, **overrides: object) -> RuntimeSettings:
    """Read the settings: *overrides* (CLI flags; ``None`` values are ignored), then the environment.

    Args:
        flag_names: the flag each override came from (``{"model_dir": "--model-dir"}``), so that
            errors and hints name what the user typed; without it they name the setting.
        overrides: setting values by field name.

    Raises:
        ServerStartError: a value is invalid; the message names the environment variable.
    """
    from pydantic import ValidationError

    from shipyard.errors import ServerStartError

    given = {key: value for key, value in overrides.items() if value is not None}
    flags = {field: (flag_names or {}).get(field, field) for field in given}
    try:
        settings = RuntimeSettings(**given)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            source = flags[field] if field in flags else _environment_names(field)
            problems.append(f"{source}: {error['msg']} (got {error.get('input')!r})")
        raise ServerStartError("invalid runtime settings: " + "; ".join(problems)) from None
    settings._flag_names = {field: flag for field, flag in flags.items() if flag.startswith("--")}
    return settings


def _environment_names(name: str) -> str:
    """The environment variable(s) a setting is read from, for error messages (*name*: field or alias)."""
    for field, info in RuntimeSettings.model_fields.items():
        choices = info.validation_alias.choices if isinstance(info.validation_alias, AliasChoices) else []
        if name == field or name in choices:
            names = [choice for choice in choices if isinstance(choice, str) and choice.isupper()]
            return " or ".join(names) if names else f"SHIPYARD_{field.upper()}"
    return name
