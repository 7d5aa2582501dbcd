"""Azure ML SDK v1 files: ``inferenceconfig.json`` and ``deploymentconfig.json``.

Field names and meanings follow azureml-core 1.61: ``InferenceConfig`` (``azureml/core/model.py``),
the ``Environment`` JSON it may carry inline (``azureml/core/environment.py``: camelCase of the
serialized field names), and ``deploy_config_dict_to_obj`` (``azureml/_model_management/_util.py``),
which is how ``az ml model deploy --deploy-config-file`` read a deployment config for ``computeType``
``ACI``, ``AKS``, ``AKSENDPOINT`` and ``local``. Paths in an inference config are relative to the
file's folder (Azure resolved them against the working directory the CLI ran in), and the entry
script and conda file are relative to ``sourceDirectory`` when one is given, as in Azure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import SpecError
from shipyard.importers.plan import ImportPlan
from shipyard.importers.report import SourceFile

DEFAULT_CUDA = "12.4"  # Azure's 9.x/10.0 CUDA images are long gone; the builder's default CUDA base
_NO_METADATA = "Azure resource metadata; Shipyard keeps no service registry (use image labels if needed)"
_TLS = "TLS is terminated in front of the service (an ingress or reverse proxy), not by Shipyard"
_AAD = "Azure AD tokens need Azure; Shipyard checks API keys (auth_enabled)"
_APP_INSIGHTS = "Application Insights is Azure's; Shipyard exposes /metrics (Prometheus) and logs on stdout"
_DATA_COLLECTION = ("Azure Blob/Event Hub data collection needs Azure; score.py's ModelDataCollector calls keep "
                    "working but nothing is uploaded")
_FILE_REL = "relative to the config file's folder; copied next to shipyard.yaml"


def _resolve(src: SourceFile, relative: str, *, base: Path | None = None, field: str) -> Path:
    path = ((base or src.path.parent) / relative).resolve()
    if not path.exists():
        raise SpecError(f"'{relative}' does not exist (looked for {path})", file=str(src.path), field=field)
    return path


def import_inference_config(src: SourceFile, plan: ImportPlan) -> None:
    """Fill *plan*'s spec from an ``inferenceconfig.json``."""
    spec = plan.spec
    entry = src.get("entryScript", None)
    if not isinstance(entry, str) or not entry:
        raise SpecError("entryScript is required (the score.py with init() and run())", file=str(src.path),
                        field="entryScript")
    source_dir: Path | None = None
    if src.has("sourceDirectory") and src.get("sourceDirectory"):
        source_dir = _resolve(src, src.get("sourceDirectory"), field="sourceDirectory")
        if not source_dir.is_dir():
            raise SpecError(f"'{source_dir}' is not a folder", file=str(src.path), field="sourceDirectory")
        spec["source_dir"] = plan.copy(source_dir, "src")
        src.mapped("sourceDirectory", "shipyard.yaml: source_dir", "copied to src/")
        entry_path = _resolve(src, entry, base=source_dir, field="entryScript")
        spec["entry_script"] = "src/" + entry_path.relative_to(source_dir).as_posix()
        src.mapped("entryScript", "shipyard.yaml: entry_script", "relative to sourceDirectory, as in Azure")
    else:
        src.not_applicable("sourceDirectory", "empty: only the entry script is copied")
        entry_path = _resolve(src, entry, field="entryScript")
        spec["entry_script"] = plan.copy(entry_path, entry_path.name)
        src.mapped("entryScript", "shipyard.yaml: entry_script", _FILE_REL)
    runtime = src.get("runtime", None)
    if runtime is not None and str(runtime).lower() not in ("python", "python-slim"):
        raise SpecError(f"runtime {runtime!r} is not supported: Shipyard serves Python score.py files "
                        "(runtime 'python')", file=str(src.path), field="runtime")
    src.not_applicable("runtime", "Shipyard always runs a Python score.py (the only runtime it has)")
    if src.get("condaFile", None):
        conda = _resolve(src, src.get("condaFile"), base=source_dir, field="condaFile")
        spec["environment"] = _in_copy(plan, conda, source_dir)
        src.mapped("condaFile", "shipyard.yaml: environment")
    else:
        src.not_applicable("condaFile", "empty")
    if src.get("extraDockerfileSteps", None):
        steps = _resolve(src, src.get("extraDockerfileSteps"), base=source_dir, field="extraDockerfileSteps")
        gpu = bool(src.get("enableGpu", False))
        plan.texts["Dockerfile.steps.j2"] = _steps_template(steps.read_text(), gpu=gpu)
        spec.setdefault("build", {})["dockerfile_template"] = "Dockerfile.steps.j2"
        src.mapped("extraDockerfileSteps", "shipyard.yaml: build.dockerfile_template",
                   "the steps run in the final image's final_steps block, as root, before USER")
    else:
        src.not_applicable("extraDockerfileSteps", "empty")
    if src.get("baseImage", None):
        spec["base_image"] = src.mapped("baseImage", "shipyard.yaml: base_image",
                                        "it needs Python 3 with venv; Azure's own images are not needed")
    else:
        src.not_applicable("baseImage", "empty: the builder's default python:<version>-slim base")
    src.not_applicable("baseImageRegistry", "run 'docker login' for the registry; the Docker Engine's "
                                            "credentials are used to pull the base image")
    if src.get("enableGpu", False):
        spec["gpu"] = {"cuda": DEFAULT_CUDA}
        src.mapped("enableGpu", "shipyard.yaml: gpu.cuda", f"CUDA {DEFAULT_CUDA} base image")
    else:
        src.not_applicable("enableGpu", "false: a CPU image")
    src.not_applicable("cudaVersion", f"Azure's CUDA 9.x/10.0 images are retired; gpu.cuda is {DEFAULT_CUDA}")
    if src.get("description", None):
        spec.setdefault("labels", {})["org.opencontainers.image.description"] = src.get("description")
        src.mapped("description", "shipyard.yaml: labels.org.opencontainers.image.description")
    else:
        src.not_applicable("description", "empty")
    environment = src.get("environment", None)
    if isinstance(environment, dict) and environment and set(environment) <= {"name", "version"}:
        src.not_applicable("environment", "a reference to a registered Azure environment (name/version) cannot "
                                          "be fetched without Azure; export its conda file and give condaFile")
    elif isinstance(environment, dict):
        _import_environment(src, plan, environment)
    elif environment is not None:
        src.not_applicable("environment", "a registered Azure environment (name/version) cannot be fetched "
                                          "without Azure; export its conda file and give condaFile")


def _in_copy(plan: ImportPlan, path: Path, source_dir: Path | None) -> str:
    """The spec path of *path*: inside the copied source folder if it lies there, else copied beside."""
    if source_dir is not None and path.is_relative_to(source_dir):
        return "src/" + path.relative_to(source_dir).as_posix()
    return plan.copy(path, path.name)


def _steps_template(steps: str, *, gpu: bool) -> str:
    parent = "cuda.Dockerfile.j2" if gpu else "base.Dockerfile.j2"
    return ("{# Written by 'shipyard import' from extraDockerfileSteps: the steps run as root in the final image. #}\n"
            f'{{% extends "{parent}" %}}\n{{% block final_steps %}}\n{{% raw %}}\n{steps.rstrip()}\n'
            "{% endraw %}\n{% endblock %}\n")


def _import_environment(src: SourceFile, plan: ImportPlan, env: dict[str, Any]) -> None:
    """An inline ``Environment`` (azureml.core.Environment serialized to JSON)."""
    spec = plan.spec
    conda = src.get("environment.python.condaDependencies", None)
    if isinstance(conda, dict):
        plan.texts["environment.yml"] = yaml.safe_dump(conda, sort_keys=False)
        spec["environment"] = "environment.yml"
        src.mapped("environment.python.condaDependencies", "shipyard.yaml: environment", "written as environment.yml")
    elif src.get("environment.python.condaDependenciesFile", None):
        path = _resolve(src, src.get("environment.python.condaDependenciesFile"),
                        field="environment.python.condaDependenciesFile")
        spec["environment"] = plan.copy(path, path.name)
        src.mapped("environment.python.condaDependenciesFile", "shipyard.yaml: environment", _FILE_REL)
    src.not_applicable("environment.python.condaDependenciesFile", "condaDependencies given inline wins")
    if src.get("environment.python.userManagedDependencies", False):
        src.not_applicable("environment.python.userManagedDependencies",
                           "true: Azure used the base image's Python as is; Shipyard installs the runtime "
                           "into a venv on it (list nothing else to add nothing else)")
    src.not_applicable("environment.python.userManagedDependencies", "false: the environment file is installed")
    src.not_applicable("environment.python.interpreterPath", "the image's venv Python is used")
    src.not_applicable("environment.python.baseCondaEnvironment", "conda environments are installed fresh")
    if src.get("environment.docker.baseImage", None):
        spec["base_image"] = src.mapped("environment.docker.baseImage", "shipyard.yaml: base_image")
    src.not_applicable("environment.docker.baseImage", "empty: the builder's default base")
    src.not_applicable("environment.docker.baseDockerfile",
                       "Shipyard renders its own Dockerfile; move the steps into build.dockerfile_template")
    if src.get("environment.docker.gpuSupport", False):
        spec["gpu"] = {"cuda": DEFAULT_CUDA}
        src.mapped("environment.docker.gpuSupport", "shipyard.yaml: gpu.cuda")
    src.not_applicable("environment.docker.gpuSupport", "false: a CPU image")
    src.not_applicable("environment.docker.enabled", "Shipyard always builds a Docker image")
    src.answer_rest("environment.docker.baseImageRegistry", "run 'docker login' for the registry instead")
    src.not_applicable("environment.docker.baseImageRegistry", "run 'docker login' for the registry instead")
    for field in ("arguments", "sharedVolumes", "shmSize", "buildContext", "platform"):
        src.not_applicable(f"environment.docker.{field}", "training-run container settings; not used when serving")
    variables = src.get("environment.environmentVariables", None)
    if isinstance(variables, dict) and variables:
        spec.setdefault("env", {}).update({str(k): str(v) for k, v in variables.items()})
        src.mapped("environment.environmentVariables", "shipyard.yaml: env", "baked into the image, as Azure did")
    src.not_applicable("environment.environmentVariables", "empty")
    src.not_applicable("environment.name", "Azure environment registry name; not needed to build")
    src.not_applicable("environment.version", "Azure environment registry version; not needed to build")
    src.not_applicable("environment.inferencingStackVersion",
                       "Azure's serving stack; Shipyard's runtime replaces it")
    src.not_applicable("environment.assetId", "Azure asset id")
    for section in ("spark", "databricks", "r"):
        src.not_applicable(f"environment.{section}", f"{section} sections configure training runs, not serving")


# -- deploymentconfig.json -----------------------------------------------------------------------

_TARGETS = {"aci": "container", "local": "container", "aks": "kubernetes", "aksendpoint": "kubernetes"}


def import_deployment_config(src: SourceFile, plan: ImportPlan) -> None:
    """Fill *plan*'s deploy settings from a ``deploymentconfig.json``."""
    compute = str(src.get("computeType", "")).lower()
    if compute not in _TARGETS:
        raise SpecError(f"computeType {src.get('computeType', None)!r} is not one Azure ML v1 deployed to: "
                        "use ACI, AKS, AKSENDPOINT or local", file=str(src.path), field="computeType")
    plan.target = _TARGETS[compute]
    src.mapped("computeType", f"deployment.yaml: target ({plan.target})")
    options = plan.options
    kubernetes = plan.target == "kubernetes"

    def option(path: str, name: str, convert=lambda value: value, note: str = "") -> None:
        if src.get(path, None) is not None:
            options[name] = convert(src.mapped(path, f"deployment.yaml: options.{name}", note))
        src.not_applicable(path, "null: Shipyard's default")

    option("containerResourceRequirements.cpu", "cpu_cores", float,
           "pod request" if kubernetes else "container limit")
    option("containerResourceRequirements.memoryInGB", "memory_gb", float,
           "pod request" if kubernetes else "container limit")
    if kubernetes:
        option("containerResourceRequirements.cpuLimit", "cpu_cores_limit", float)
        option("containerResourceRequirements.memoryInGBLimit", "memory_gb_limit", float)
    else:
        for limit in ("cpuLimit", "memoryInGBLimit"):
            src.not_applicable(f"containerResourceRequirements.{limit}", "a container's request is its limit")
    for gpu_field in ("containerResourceRequirements.gpu", "gpuCores"):
        count = src.get(gpu_field, None)
        if count:
            options["gpus"] = {"count": int(count)}
            src.mapped(gpu_field, "deployment.yaml: options.gpus.count")
        src.not_applicable(gpu_field, "0: no GPU")
    if src.get("authEnabled", None) is not None:
        options["auth_enabled"] = bool(src.mapped("authEnabled", "deployment.yaml: options.auth_enabled"))
    elif compute == "aci":  # ACI's default was off; Shipyard's is on
        options["auth_enabled"] = False
        plan.notes.append(f"{src.name} has no authEnabled: ACI's default (off) is kept as options.auth_enabled: "
                          "false; remove it to require keys (Shipyard's default)")
    for key, name in (("keys.primaryKey", "primary_key"), ("keys.secondaryKey", "secondary_key")):
        option(key, name, str)
    src.not_applicable("tokenAuthEnabled", _AAD)
    src.not_applicable("aadAuthEnabled", _AAD)
    if compute == "local":
        option("port", "port", int, "host port")
    _import_scaling(src, plan, kubernetes)
    _import_runtime_limits(src, plan)
    if kubernetes:
        for name, to in (("periodSeconds", "period_seconds"), ("initialDelaySeconds", "initial_delay_seconds"),
                         ("timeoutSeconds", "timeout_seconds"), ("failureThreshold", "failure_threshold")):
            value = src.get(f"livenessProbeRequirements.{name}", None)
            if value is not None:
                options.setdefault("probes", {})[to] = int(value)
                src.mapped(f"livenessProbeRequirements.{name}", f"deployment.yaml: options.probes.{to}")
        src.not_applicable("livenessProbeRequirements.successThreshold",
                           "Kubernetes requires 1 for liveness probes (the only value Azure allowed to work)")
        if src.get("namespace", None):
            plan.settings["namespace"] = src.mapped("namespace", "deployment.yaml: settings.namespace")
        src.not_applicable("computeTargetName", "the AKS cluster: pick it with --context / KUBECONFIG")
        src.not_applicable("versionName", "AKS endpoint versions: deploy each version under its own name")
        src.not_applicable("trafficPercentile", "AKS endpoint traffic split: route with your ingress")
        src.not_applicable("isDefault", "AKS endpoint versions: deploy each version under its own name")
        src.not_applicable("isControlVersion", "AKS endpoint versions: deploy each version under its own name")
    src.not_applicable("appInsightsEnabled", _APP_INSIGHTS)
    src.not_applicable("dataCollection.storageEnabled", _DATA_COLLECTION)
    src.not_applicable("dataCollection.eventHubEnabled", _DATA_COLLECTION)
    src.not_applicable("sslEnabled", _TLS)
    for name in ("sslCertificate", "sslKey", "cname"):
        src.not_applicable(name, _TLS)
    src.not_applicable("location", "the Azure region; the target is where you deploy")
    src.not_applicable("dnsNameLabel", "an Azure DNS label; pass --public-host for the scoring URI's host name")
    for name in ("vaultBaseUrl", "keyName", "keyVersion"):
        src.not_applicable(name, "Azure Key Vault encryption of ACI; not applicable on a Docker Engine")
    for name in ("vnetName", "subnetName"):
        src.not_applicable(name, "Azure virtual network; put the Docker host or cluster in your network")
    for name in ("description", "tags", "properties"):
        src.not_applicable(name, _NO_METADATA)
    if not kubernetes:
        for name in ("autoScaler", "numReplicas", "livenessProbeRequirements", "namespace", "computeTargetName"):
            src.not_applicable(name, f"an AKS setting; computeType {src.get('computeType')} runs one container")


def _import_scaling(src: SourceFile, plan: ImportPlan, kubernetes: bool) -> None:
    if not kubernetes:
        return
    options = plan.options
    enabled = src.get("autoScaler.autoscaleEnabled", None)
    replicas = src.get("numReplicas", None)
    if enabled is False or (enabled is None and replicas is not None):
        if replicas is None:
            raise SpecError("autoScaler.autoscaleEnabled is false but numReplicas is not set: say how many "
                            "replicas to run", file=str(src.path), field="numReplicas")
        options["replicas"] = int(src.mapped("numReplicas", "deployment.yaml: options.replicas",
                                             "a fixed count: no autoscaler"))
        if enabled is not None:
            src.mapped("autoScaler.autoscaleEnabled", "deployment.yaml: options.replicas", "false: fixed replicas")
        src.answer_rest("autoScaler", "the autoscaler is off (numReplicas is set)")
        return
    if enabled is not None:
        src.mapped("autoScaler.autoscaleEnabled", "deployment.yaml: HorizontalPodAutoscaler",
                   "true: an autoscaler (no options.replicas)")
    src.not_applicable("numReplicas", "ignored when the autoscaler is on, as in Azure")
    for name, to in (("minReplicas", "min_replicas"), ("maxReplicas", "max_replicas"),
                     ("targetUtilization", "target_utilization"),
                     ("refreshPeriodInSeconds", "autoscale_refresh_seconds")):
        value = src.get(f"autoScaler.{name}", None)
        if value is not None:
            options[to] = int(value)
            src.mapped(f"autoScaler.{name}", f"deployment.yaml: options.{to}")


def _import_runtime_limits(src: SourceFile, plan: ImportPlan) -> None:
    """Per-replica request handling: timeout, concurrency, queue wait (runtime environment variables)."""
    timeout = src.get("scoringTimeoutMs", None)
    if timeout is not None:
        src.mapped("scoringTimeoutMs", plan.env("SHIPYARD_REQUEST_TIMEOUT_S", _seconds(timeout)),
                   "a request still running then gets 504")
    for name in ("maxConcurrentRequestsPerContainer", "replicaMaxConcurrentRequests"):
        value = src.get(name, None)
        if value is not None:
            src.mapped(name, plan.env("SHIPYARD_MAX_CONCURRENT_REQUESTS", str(int(value))),
                       "requests one replica scores at once; more wait in a queue")
    wait = src.get("maxQueueWaitMs", None)
    if wait is not None:
        src.mapped("maxQueueWaitMs", plan.env("SHIPYARD_MAX_QUEUE_WAIT_MS", str(int(wait))),
                   "a request queued longer gets 503 with Retry-After")


def _seconds(milliseconds: Any) -> str:
    value = float(milliseconds) / 1000.0
    return f"{value:g}"
