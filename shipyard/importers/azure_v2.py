"""Azure ML v2 (CLI ``az ml`` / SDK ``azure-ai-ml``) online deployment and endpoint YAML.

Field names follow azure-ai-ml 1.35's marshmallow schemas: ``_schema/_deployment/deployment.py``
and ``online/online_deployment.py`` (with ``request_settings_schema``, ``liveness_probe``,
``scale_settings_schema``, ``data_collector_schema``, ``resource_requirements_schema``), the
environment schema in ``_schema/assets/environment.py`` and ``_endpoint/endpoint.py`` for the
endpoint. Paths are relative to the YAML file's folder, as ``az ml`` resolves them.

A deployment becomes a Kubernetes deployment (``instance_count`` replicas or an autoscaler, on
instances the size of ``instance_type``); the endpoint's name becomes the service name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shipyard.deploy_targets.options import parse_memory_gb
from shipyard.errors import SpecError
from shipyard.importers.plan import ImportPlan, safe_name
from shipyard.importers.report import SourceFile
from shipyard.importers.vm_sizes import find_vm_size

_METADATA = "Azure resource metadata; Shipyard keeps no resource registry"
_APP_INSIGHTS = "Application Insights is Azure's; Shipyard exposes /metrics (Prometheus) and logs on stdout"
_NETWORK = "Azure network isolation; put the cluster in your network and use NetworkPolicies"
_CPU_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m?)\s*$")
#: Probe fields: Azure v2 name -> Shipyard ProbeOptions field.
_PROBE = {"period": "period_seconds", "initial_delay": "initial_delay_seconds", "timeout": "timeout_seconds",
          "failure_threshold": "failure_threshold", "success_threshold": "success_threshold"}


def is_azureml_reference(value: object) -> bool:
    """``azureml:name:version``, ``azureml:name@latest`` or an ``azureml://`` asset id."""
    return isinstance(value, str) and value.startswith("azureml:")


def _path(src: SourceFile, relative: str, field: str) -> Path:
    path = (src.path.parent / relative).resolve()
    if not path.exists():
        raise SpecError(f"'{relative}' does not exist (looked for {path}; paths are relative to the YAML file)",
                        file=str(src.path), field=field)
    return path


def import_online_deployment(src: SourceFile, plan: ImportPlan) -> None:
    """Fill *plan* from an online deployment YAML (managed or Kubernetes)."""
    plan.target = "kubernetes"
    src.not_applicable("$schema", "names the format; read to recognise the file")
    if src.get("endpoint_name", None):
        plan.name_hint = safe_name(str(src.mapped("endpoint_name", "shipyard.yaml: name, deployment.yaml: name",
                                                  "the endpoint's name is the service's")))
    src.not_applicable("name", "the deployment (slot) name: Shipyard runs one deployment per service name; "
                               "deploy another under a new name for blue/green")
    src.not_applicable("type", "managed or kubernetes: Shipyard deploys to a Kubernetes cluster either way")
    if src.get("description", None):
        plan.spec.setdefault("labels", {})["org.opencontainers.image.description"] = str(src.get("description"))
        src.mapped("description", "shipyard.yaml: labels.org.opencontainers.image.description")
    for name in ("tags", "properties", "id", "provisioning_state", "creation_context"):
        src.not_applicable(name, _METADATA)
    _import_model(src, plan)
    _import_code(src, plan)
    _import_environment(src, plan)
    variables = src.get("environment_variables", None)
    if isinstance(variables, dict) and variables:
        for key, value in variables.items():
            plan.env(str(key), str(value))
        src.mapped("environment_variables", "deployment.yaml: options.env", "set on the pods at deploy time")
    src.not_applicable("environment_variables", "empty")
    _import_resources(src, plan)
    _import_scale(src, plan)
    _import_request_settings(src, plan)
    for probe, to in (("liveness_probe", "probes"), ("readiness_probe", "readiness_probe")):
        for name, field in _PROBE.items():
            value = src.get(f"{probe}.{name}", None)
            if value is None:
                continue
            if probe == "liveness_probe" and name == "success_threshold":
                src.not_applicable(f"{probe}.{name}", "Kubernetes requires 1 for liveness probes")
                continue
            plan.options.setdefault(to, {})[field] = int(value)
            src.mapped(f"{probe}.{name}", f"deployment.yaml: options.{to}.{field}")
    src.not_applicable("app_insights_enabled", _APP_INSIGHTS)
    why = ("Azure Blob data collection needs Azure; score.py's collector calls keep working but nothing is uploaded")
    src.not_applicable("data_collector", why)
    src.not_applicable("egress_public_network_access", _NETWORK)
    src.not_applicable("private_network_connection", _NETWORK)
    src.not_applicable("model_mount_path", "Shipyard puts models in the image and points AZUREML_MODEL_DIR at them")


def _import_model(src: SourceFile, plan: ImportPlan) -> None:
    model = src.get("model", None)
    if model is None:
        return
    if is_azureml_reference(model):
        plan.model_refs.append(str(model))
        src.mapped("model", "shipyard.yaml: models", "resolved from the model registry (shipyard model)")
        return
    if isinstance(model, str):
        path = _path(src, model, "model")
        plan.model_paths.append(path)
        src.mapped("model", "shipyard.yaml: models", "copied to models/")
        return
    if not isinstance(model, dict) or not model.get("path"):
        raise SpecError("model must be azureml:NAME:VERSION, a path, or a mapping with a path", file=str(src.path),
                        field="model")
    if is_azureml_reference(model["path"]):
        plan.model_refs.append(str(model["path"]))
        src.mapped("model.path", "shipyard.yaml: models", "resolved from the model registry (shipyard model)")
    else:
        plan.model_paths.append(_path(src, str(model["path"]), "model.path"))
        src.mapped("model.path", "shipyard.yaml: models", "copied to models/")
    if model.get("version") is not None:
        plan.spec["version"] = str(src.mapped("model.version", "shipyard.yaml: version",
                                              "the version the runtime reports"))
    src.not_applicable("model.name", "the model folder keeps the file's name")
    src.not_applicable("model.type", "Shipyard serves custom models through score.py, .onnx/.pt files directly")
    for name in ("description", "tags", "properties", "flavors", "stage", "datastore", "job_name", "utc_time_created"):
        src.not_applicable(f"model.{name}", _METADATA)


def _import_code(src: SourceFile, plan: ImportPlan) -> None:
    code = src.get("code_configuration.code", None)
    script = src.get("code_configuration.scoring_script", None)
    if script is None:
        return
    if code:
        folder = _path(src, str(code), "code_configuration.code")
        plan.spec["source_dir"] = plan.copy(folder, "src")
        src.mapped("code_configuration.code", "shipyard.yaml: source_dir", "copied to src/")
        entry = (folder / str(script)).resolve()
        if not entry.is_file():
            raise SpecError(f"'{script}' is not a file in {folder}", file=str(src.path),
                            field="code_configuration.scoring_script")
        plan.spec["entry_script"] = "src/" + entry.relative_to(folder).as_posix()
    else:
        entry = _path(src, str(script), "code_configuration.scoring_script")
        plan.spec["entry_script"] = plan.copy(entry, entry.name)
    src.mapped("code_configuration.scoring_script", "shipyard.yaml: entry_script")


def _import_environment(src: SourceFile, plan: ImportPlan) -> None:
    environment = src.get("environment", None)
    if environment is None:
        return
    if isinstance(environment, str):
        src.not_applicable("environment", "a registered Azure environment cannot be fetched without Azure: "
                                          "export its conda file and set environment.conda_file")
        return
    conda = src.get("environment.conda_file", None)
    if isinstance(conda, dict):
        plan.texts["environment.yml"] = yaml.safe_dump(conda, sort_keys=False)
        plan.spec["environment"] = "environment.yml"
        src.mapped("environment.conda_file", "shipyard.yaml: environment", "inline: written as environment.yml")
    elif conda:
        path = _path(src, str(conda), "environment.conda_file")
        plan.spec["environment"] = plan.copy(path, path.name)
        src.mapped("environment.conda_file", "shipyard.yaml: environment", "copied next to shipyard.yaml")
    if src.get("environment.image", None):
        plan.spec["base_image"] = src.mapped("environment.image", "shipyard.yaml: base_image",
                                             "it needs Python 3 with venv (Azure's inference images have it)")
    if src.has("environment.build"):
        why = ("Shipyard renders its own Dockerfile from the spec: move the Dockerfile's steps into "
               "build.dockerfile_template (extends base.Dockerfile.j2)")
        src.not_applicable("environment.build", why)
    if str(src.get("environment.os_type", "linux")).lower() != "linux":
        raise SpecError("only Linux images are built", file=str(src.path), field="environment.os_type")
    src.not_applicable("environment.os_type", "Linux: the only kind Shipyard builds")
    why = "custom-container routes: Shipyard's runtime serves /score, /v2/health/live and /v2/health/ready"
    src.not_applicable("environment.inference_config", why)
    for name in ("name", "version", "description", "tags", "properties", "datastore", "id"):
        src.not_applicable(f"environment.{name}", _METADATA)


def _cpu(value: object) -> float:
    match = _CPU_RE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a CPU quantity (0.5, 2, 500m)")
    return float(match.group(1)) / (1000 if match.group(2) else 1)


def _import_resources(src: SourceFile, plan: ImportPlan) -> None:
    options = plan.options
    instance_type = src.get("instance_type", None)
    if instance_type:
        size = find_vm_size(str(instance_type))
        if size is None:
            src.not_applicable("instance_type", "not in Shipyard's table of Azure VM sizes "
                                                "(shipyard/importers/vm_sizes.py): set cpu_cores and memory_gb")
        else:
            options["cpu_cores"] = float(size.vcpus)
            options["memory_gb"] = size.memory_gb
            target = "deployment.yaml: options.cpu_cores, options.memory_gb"
            if size.gpus:
                options["gpus"] = {"count": size.gpus}
                target += ", options.gpus.count, shipyard.yaml: gpu (a CUDA image)"
                plan.spec.setdefault("gpu", {"cuda": "12.4"})
            src.mapped("instance_type", target, f"{size.vcpus} vCPU, {size.memory_gib:g} GiB"
                       + (f", {size.gpus} x {size.gpu_model}" if size.gpus else "") + " (the whole VM)")
    for section, field_cpu, field_memory in (("requests", "cpu_cores", "memory_gb"),
                                             ("limits", "cpu_cores_limit", "memory_gb_limit")):
        try:
            if src.get(f"resources.{section}.cpu", None) is not None:
                options[field_cpu] = _cpu(src.mapped(f"resources.{section}.cpu", f"deployment.yaml: options.{field_cpu}"))
            if src.get(f"resources.{section}.memory", None) is not None:
                options[field_memory] = parse_memory_gb(str(src.mapped(
                    f"resources.{section}.memory", f"deployment.yaml: options.{field_memory}")))
        except ValueError as exc:
            raise SpecError(str(exc), file=str(src.path), field=f"resources.{section}") from None
        for gpu_key in ("gpu", "nvidia.com/gpu"):
            if src.get(f"resources.{section}.{gpu_key}", None) is not None:
                options["gpus"] = {"count": int(src.mapped(f"resources.{section}.{gpu_key}",
                                                           "deployment.yaml: options.gpus.count"))}


def _import_scale(src: SourceFile, plan: ImportPlan) -> None:
    options = plan.options
    scale = str(src.get("scale_settings.type", "default")).lower()
    if scale == "target_utilization":
        src.mapped("scale_settings.type", "deployment.yaml: HorizontalPodAutoscaler", "an autoscaler")
        for name, to in (("min_instances", "min_replicas"), ("max_instances", "max_replicas"),
                         ("target_utilization_percentage", "target_utilization"),
                         ("polling_interval", "autoscale_refresh_seconds")):
            if src.get(f"scale_settings.{name}", None) is not None:
                options[to] = int(src.mapped(f"scale_settings.{name}", f"deployment.yaml: options.{to}"))
        src.not_applicable("instance_count", "the autoscaler sets the count (between min and max instances)")
        return
    src.not_applicable("scale_settings.type", "default: a fixed instance_count")
    if src.get("instance_count", None) is not None:
        options["replicas"] = int(src.mapped("instance_count", "deployment.yaml: options.replicas",
                                             "a fixed count: no autoscaler"))


def _import_request_settings(src: SourceFile, plan: ImportPlan) -> None:
    timeout = src.get("request_settings.request_timeout_ms", None)
    if timeout is not None:
        src.mapped("request_settings.request_timeout_ms",
                   plan.env("SHIPYARD_REQUEST_TIMEOUT_S", f"{float(timeout) / 1000:g}"),
                   "a request still running then gets 504")
    concurrent = src.get("request_settings.max_concurrent_requests_per_instance", None)
    if concurrent is not None:
        src.mapped("request_settings.max_concurrent_requests_per_instance",
                   plan.env("SHIPYARD_MAX_CONCURRENT_REQUESTS", str(int(concurrent))),
                   "requests one worker scores at once; more wait in a queue")
    wait = src.get("request_settings.max_queue_wait_ms", None)
    if wait is not None:
        src.mapped("request_settings.max_queue_wait_ms", plan.env("SHIPYARD_MAX_QUEUE_WAIT_MS", str(int(wait))),
                   "a request queued longer gets 503 with Retry-After")


def import_online_endpoint(src: SourceFile, plan: ImportPlan) -> None:
    """Fill *plan* from an online endpoint YAML: its name and how clients authenticate."""
    src.not_applicable("$schema", "names the format; read to recognise the file")
    if src.get("name", None):
        plan.name_hint = plan.name_hint or safe_name(str(src.get("name")))
        src.mapped("name", "shipyard.yaml: name, deployment.yaml: name", "unless the deployment's endpoint_name says")
    mode = src.get("auth_mode", None)
    if mode is not None:
        if str(mode).lower() not in ("key", "aml_token", "aad_token"):
            raise SpecError(f"auth_mode {mode!r} is not one of key, aml_token, aad_token", file=str(src.path),
                            field="auth_mode")
        plan.options["auth_enabled"] = True
        note = "keys, as Azure's key mode" if str(mode).lower() == "key" else \
            "Azure tokens need Azure: clients send one of the service's keys instead"
        src.mapped("auth_mode", "deployment.yaml: options.auth_enabled (true)", note)
    for name in ("description", "tags", "properties", "id", "provisioning_state", "scoring_uri", "openapi_uri",
                 "location", "kind"):
        src.not_applicable(name, _METADATA)
    src.not_applicable("traffic", "traffic split between deployments: route with your ingress or service mesh")
    src.not_applicable("mirror_traffic", "traffic mirroring: use your service mesh")
    src.not_applicable("identity", "Azure managed identity; give pods credentials with Kubernetes Secrets")
    src.not_applicable("public_network_access", _NETWORK)
    src.not_applicable("compute", "the Azure Arc Kubernetes compute: pick the cluster with --context")
