"""Kubernetes manifests for one deployment, as plain dicts: pure functions, no cluster, no client.

One deployment is a Deployment (probes on the runtime's health endpoints, non-root, rolling
updates that never drop below the wanted replicas), a Service, a HorizontalPodAutoscaler (unless a
fixed ``replicas`` is asked for, as in Azure's AKS ``num_replicas``), a PodDisruptionBudget and a
Secret holding the API keys. ``shipyard deploy --target kubernetes --output DIR`` writes these as
YAML; otherwise :mod:`shipyard.deploy_targets.kubernetes` applies them.

Everything carries ``dev.shipyard/deployment: <name>`` (how Shipyard finds it again) and the
``app.kubernetes.io`` labels. The Deployment's annotations keep the options used, so an update
can start from them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from shipyard.deploy_targets.base import DEFAULT_GRPC_PORT, DEFAULT_PORT, LABEL_PREFIX, DeploymentKeys
from shipyard.deploy_targets.options import DeployOptions, ProbeOptions, parse_memory_gb
from shipyard.errors import SpecError

Manifest = dict[str, Any]

LABEL_DEPLOYMENT = f"{LABEL_PREFIX}/deployment"
ANNOTATION_OPTIONS = f"{LABEL_PREFIX}/options"
ANNOTATION_CREATED = f"{LABEL_PREFIX}/created"
ANNOTATION_KEYS_HASH = f"{LABEL_PREFIX}/keys-sha256"
MANAGED_BY = {"app.kubernetes.io/managed-by": "shipyard"}
CONTAINER_NAME = "scoring"
KEYS_ENV = "SHIPYARD_API_KEYS"
APP_UID = 10001  # the user the builder's images run as (numeric, so runAsNonRoot can check it)
DEFAULT_CPU_CORES = 0.1  # Azure AKS defaults: the pod's requests
DEFAULT_MEMORY_GB = 0.5


class KubernetesOptions(DeployOptions):
    """Options of the ``kubernetes`` target (Azure ``AksWebservice.deploy_configuration`` cousins).

    ``cpu_cores`` and ``memory_gb`` are the pod's requests (default 0.1 core, 0.5 GB as on AKS).
    """

    replicas: int | None = Field(default=None, ge=0)
    """A fixed number of pods; turns autoscaling off (Azure's ``num_replicas``)."""
    min_replicas: int = Field(default=1, ge=1)
    """Fewest pods the autoscaler keeps (Azure's ``autoscale_min_replicas``)."""
    max_replicas: int = Field(default=10, ge=1)
    """Most pods the autoscaler starts (Azure's ``autoscale_max_replicas``)."""
    target_utilization: int = Field(default=70, ge=1, le=100)
    """Average CPU use, in percent of the request, the autoscaler aims for."""
    cpu_cores_limit: float | None = Field(default=None, gt=0)
    """CPU limit per pod (Azure's ``cpu_cores_limit``); default: none, so pods may burst."""
    memory_gb_limit: float | None = Field(default=None, gt=0)
    """Memory limit per pod (Azure's ``memory_gb_limit``); default: the request."""
    container_port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    """Port the runtime listens on inside the image (the spec's ``port``)."""
    grpc_container_port: int | None = Field(default=DEFAULT_GRPC_PORT, ge=1, le=65535)
    """Port the image serves gRPC on (the spec's ``grpc_port``); ``None`` for an image without gRPC.
    The Service exposes it on the same port, and readiness is then checked over gRPC."""
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    """How the Service is exposed; ``LoadBalancer`` for an address outside the cluster."""
    service_port: int = Field(default=80, ge=1, le=65535)
    """Port of the Service (the scoring URI's port)."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Node labels pods must run on, e.g. ``agentpool=gpu``."""
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    """Extra tolerations (Kubernetes objects); GPU requests add one for the GPU taint."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    """When nodes pull the image."""
    image_pull_secrets: list[str] = Field(default_factory=list)
    """Names of Secrets with registry credentials."""
    run_as_user: int = Field(default=APP_UID, ge=1)
    """Non-root user id the pods run as."""
    probes: ProbeOptions = Field(default_factory=ProbeOptions)
    """Liveness probe timing; also readiness timing unless ``readiness_probe`` is given."""
    readiness_probe: ProbeOptions | None = None
    """Readiness probe timing (Azure v2's ``readiness_probe``); default: from ``probes``, twice as often."""
    autoscale_refresh_seconds: int | None = Field(default=None, ge=1, le=1800)
    """How often the autoscaler may change the replica count (Azure's ``autoscale_refresh_seconds``,
    v2's ``polling_interval``): the HPA's scaling policies use it as their period and its scale-down
    stabilization window. Default: Kubernetes' own behaviour."""

    @field_validator("memory_gb_limit", mode="before")
    @classmethod
    def _memory_limit_units(cls, value: object) -> object:
        return parse_memory_gb(value)

    @model_validator(mode="after")
    def _replica_range(self) -> KubernetesOptions:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})")
        return self


def _labels(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "scoring",
            LABEL_DEPLOYMENT: name, **MANAGED_BY}


def _meta(name: str, namespace: str, *, deployment: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": _labels(deployment or name), **extra}


def keys_secret_name(name: str) -> str:
    return f"{name}-keys"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _quantity_cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def _quantity_memory(gb: float) -> str:
    return f"{round(gb * 1000)}M"


def keys_hash(keys: DeploymentKeys | None) -> str:
    """A digest of the keys for the pod template, so changing keys rolls the pods."""
    return hashlib.sha256(",".join(keys.as_list()).encode()).hexdigest()[:16] if keys else "none"


def render_secret(name: str, namespace: str, keys: DeploymentKeys) -> Manifest:
    """The Secret the pods read ``SHIPYARD_API_KEYS`` from (and ``status`` reads the keys from)."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": _meta(keys_secret_name(name), namespace, deployment=name),
        "data": {"api-keys": _b64(",".join(keys.as_list())), "primary-key": _b64(keys.primary),
                 "secondary-key": _b64(keys.secondary)},
    }


def _resources(options: KubernetesOptions) -> dict[str, Any]:
    cpu = options.cpu_cores or DEFAULT_CPU_CORES
    memory = options.memory_gb or DEFAULT_MEMORY_GB
    requests = {"cpu": _quantity_cpu(cpu), "memory": _quantity_memory(memory)}
    limits = {"memory": _quantity_memory(options.memory_gb_limit or memory)}
    if options.cpu_cores_limit:
        limits["cpu"] = _quantity_cpu(options.cpu_cores_limit)
    gpus = options.gpus
    if gpus is not None:
        if gpus.count == "all" or gpus.device_ids:
            raise SpecError("on Kubernetes ask for a number of GPUs (--gpus 1); 'all' and device ids "
                            "are chosen by the device plugin", field="gpus")
        limits[gpus.kubernetes_resource] = str(gpus.count)  # extended resources: limit only
    return {"requests": requests, "limits": limits}


def _probe(check: dict[str, Any], probes: ProbeOptions, *, period: int, initial: int, success: int = 1
           ) -> dict[str, Any]:
    probe = {**check, "periodSeconds": period, "initialDelaySeconds": initial,
             "timeoutSeconds": probes.timeout_seconds, "failureThreshold": probes.failure_threshold}
    if success != 1:
        probe["successThreshold"] = success
    return probe


def _readiness_probe(options: KubernetesOptions) -> dict[str, Any]:
    """Readiness over gRPC's health service when the image serves gRPC (SERVING once the model is
    ready and gRPC accepts calls; HTTP stays covered by liveness), else ``/v2/health/ready``."""
    check = ({"grpc": {"port": options.grpc_container_port}} if options.grpc_container_port
             else {"httpGet": {"path": "/v2/health/ready", "port": "http"}})
    ready = options.readiness_probe
    if ready is None:
        probes = options.probes
        return _probe(check, probes, period=max(1, probes.period_seconds // 2), initial=0)
    return _probe(check, ready, period=ready.period_seconds, initial=ready.initial_delay_seconds,
                  success=ready.success_threshold)


def render_deployment(name: str, namespace: str, image: str, options: KubernetesOptions,
                      keys: DeploymentKeys | None, *, created: str) -> Manifest:
    """The Deployment: pods running ``image`` with probes, resources and a non-root context."""
    env: list[dict[str, Any]] = [{"name": key, "value": value} for key, value in sorted(options.env.items())]
    if keys is not None:
        env.append({"name": KEYS_ENV, "valueFrom": {"secretKeyRef": {
            "name": keys_secret_name(name), "key": "api-keys"}}})
    probes = options.probes
    container = {
        "name": CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": options.image_pull_policy,
        "ports": _container_ports(options),
        "env": env,
        "resources": _resources(options),
        "livenessProbe": _probe({"httpGet": {"path": "/v2/health/live", "port": "http"}}, probes, period=probes.period_seconds, initial=probes.initial_delay_seconds),
        "readinessProbe": _readiness_probe(options),
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True, "runAsUser": options.run_as_user,
                            "runAsGroup": options.run_as_user},
    }
    tolerations = list(options.tolerations)
    if options.gpus is not None:
        tolerations.append({"key": options.gpus.kubernetes_resource, "operator": "Exists", "effect": "NoSchedule"})
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": options.run_as_user,
                            "runAsGroup": options.run_as_user, "fsGroup": options.run_as_user,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 40,  # the runtime drains for up to 30 s on SIGTERM
        "containers": [container],
    }
    if options.node_selector:
        pod_spec["nodeSelector"] = dict(options.node_selector)
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if options.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in options.image_pull_secrets]
    annotations = {ANNOTATION_OPTIONS: json.dumps(options.stored(), sort_keys=True), ANNOTATION_CREATED: created}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {LABEL_DEPLOYMENT: name}},
        "revisionHistoryLimit": 5,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": _labels(name), "annotations": {
                ANNOTATION_KEYS_HASH: keys_hash(keys),
                "prometheus.io/scrape": "true", "prometheus.io/path": "/metrics",
                "prometheus.io/port": str(options.container_port)}},
            "spec": pod_spec,
        },
    }
    if options.replicas is not None:  # with an autoscaler, leave the count to it
        spec["replicas"] = options.replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _meta(name, namespace, annotations=annotations), "spec": spec}


def _container_ports(options: KubernetesOptions) -> list[dict[str, Any]]:
    ports = [{"name": "http", "containerPort": options.container_port, "protocol": "TCP"}]
    if options.grpc_container_port:
        ports.append({"name": "grpc", "containerPort": options.grpc_container_port, "protocol": "TCP"})
    return ports


def render_service(name: str, namespace: str, options: KubernetesOptions) -> Manifest:
    ports = [{"name": "http", "port": options.service_port, "targetPort": "http", "protocol": "TCP"}]
    if options.grpc_container_port:
        ports.append({"name": "grpc", "port": options.grpc_container_port, "targetPort": "grpc", "protocol": "TCP",
                      "appProtocol": "grpc"})
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, namespace),
            "spec": {"type": options.service_type, "selector": {LABEL_DEPLOYMENT: name}, "ports": ports}}


def render_autoscaler(name: str, namespace: str, options: KubernetesOptions) -> Manifest:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": options.min_replicas, "maxReplicas": options.max_replicas,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": options.target_utilization}}}]}
    refresh = options.autoscale_refresh_seconds
    if refresh is not None:
        # Azure's refresh period: at most one scaling step per period, either way. Up: double or +4
        # pods per period (Kubernetes' default policies); down: by half, after a window as long.
        spec["behavior"] = {
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 100, "periodSeconds": refresh},
                {"type": "Pods", "value": 4, "periodSeconds": refresh}]},
            "scaleDown": {"stabilizationWindowSeconds": refresh, "selectPolicy": "Max", "policies": [
                {"type": "Percent", "value": 50, "periodSeconds": refresh}]}}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(name, namespace),
            "spec": spec}


def render_disruption_budget(name: str, namespace: str) -> Manifest:
    """At most one pod down at a time for voluntary disruptions (node drains), never a blocked drain."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(name, namespace),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {LABEL_DEPLOYMENT: name}}}}


def render_manifests(name: str, namespace: str, image: str, options: KubernetesOptions,
                     keys: DeploymentKeys | None, *, created: str) -> list[Manifest]:
    """All manifests of one deployment, in the order to apply them (Secret first)."""
    manifests = [render_secret(name, namespace, keys)] if keys is not None else []
    manifests.append(render_deployment(name, namespace, image, options, keys, created=created))
    manifests.append(render_service(name, namespace, options))
    if options.replicas is None:
        manifests.append(render_autoscaler(name, namespace, options))
    manifests.append(render_disruption_budget(name, namespace))
    return manifests


def to_yaml(manifest: Manifest) -> str:
    """One manifest as YAML, keys in the order written above."""
    return yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False)
