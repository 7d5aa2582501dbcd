"""The ``kubernetes`` target: a scalable service on any cluster (like Azure's AKS webservices).

Manifests come from :mod:`~shipyard.deploy_targets.kubernetes_manifests` and are applied with the
official client by server-side apply (field manager ``shipyard``) to the cluster in
``KUBECONFIG``. Every manifest is first sent as a server-side dry run, so a manifest the API
server or an admission webhook refuses fails the deploy before anything changes. Then Shipyard
waits for the rollout. If it fails, a new deployment is deleted again and an update re-applies
the previous manifests (same image, options and keys); the error says which happened and quotes
the failing pod's log.

State lives in the cluster: labels ``dev.shipyard/deployment=<name>``, the options in the
Deployment's ``dev.shipyard/options`` annotation, the keys in the ``<name>-keys`` Secret.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import AliasChoices, Field

from shipyard.deploy_targets._keys import resolve_keys
from shipyard.deploy_targets.base import Deployment, DeploymentKeys, DeploymentState, RenderedFiles, validate_name
from shipyard.deploy_targets.kubernetes_manifests import (
    ANNOTATION_CREATED,
    ANNOTATION_OPTIONS,
    CONTAINER_NAME,
    LABEL_DEPLOYMENT,
    KubernetesOptions,
    Manifest,
    keys_secret_name,
    render_manifests,
    to_yaml,
)
from shipyard.deploy_targets.options import DeployOptions, TargetSettings, merge_options, parse_model
from shipyard.errors import DeployError, DeploymentNotFoundError

logger = logging.getLogger(__name__)

FIELD_MANAGER = "shipyard"
LOG_TAIL_LINES = 30
_STUCK_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
                  "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
_KINDS = (("v1", "Secret"), ("apps/v1", "Deployment"), ("v1", "Service"),
          ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"))


class KubernetesSettings(TargetSettings):
    """Which cluster and namespace. Environment: ``KUBECONFIG``, ``SHIPYARD_NAMESPACE``."""

    kubeconfig: str | None = Field(default=None, validation_alias=AliasChoices("kubeconfig", "KUBECONFIG"))
    """Kubeconfig file; default ``$KUBECONFIG`` or ``~/.kube/config`` (in a pod: its service account)."""
    context: str | None = None
    """Kubeconfig context to use; default: the current one."""
    namespace: str = Field(default="default", validation_alias=AliasChoices("namespace", "SHIPYARD_NAMESPACE"))
    """Namespace the deployment's objects live in (it must exist)."""


def _options(options: DeployOptions) -> KubernetesOptions:
    if isinstance(options, KubernetesOptions):
        return options
    return parse_model(KubernetesOptions, options.model_dump(exclude_unset=True),
                       what="options for target 'kubernetes'")


class KubernetesTarget:
    """Deployments as Deployment + Service + HPA + PDB + Secret in one namespace."""

    name: ClassVar[str] = "kubernetes"
    options_model: ClassVar[type[DeployOptions]] = KubernetesOptions
    settings_model: ClassVar[type[TargetSettings]] = KubernetesSettings

    def __init__(self, settings: KubernetesSettings | None = None) -> None:
        self.settings = settings or KubernetesSettings()
        self._api: Any = None
        self._dynamic: Any = None

    # -- connection ------------------------------------------------------------------------------
    @property
    def api(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for the configured cluster (created on first use)."""
        if self._api is None:
            from kubernetes import config
            from kubernetes.config.config_exception import ConfigException

            try:
                if self.settings.kubeconfig or not _in_cluster():
                    self._api = config.new_client_from_config(config_file=self.settings.kubeconfig,
                                                              context=self.settings.context)
                else:
                    config.load_incluster_config()
                    from kubernetes import client

                    self._api = client.ApiClient()
            except (ConfigException, OSError) as exc:
                where = self.settings.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
                raise DeployError(f"cannot load the Kubernetes configuration from {where} ({exc}); set "
                                  "KUBECONFIG or --kubeconfig to a kubeconfig file for your cluster") from exc
        return self._api

    def _core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def _apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api)

    def _resource(self, api_version: str, kind: str) -> Any:
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic = DynamicClient(self.api)
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    # -- the protocol ----------------------------------------------------------------------------
    def render(self, name: str, image: str, options: DeployOptions) -> RenderedFiles:
        parsed = _options(options)
        keys = resolve_keys(parsed, None)
        manifests = render_manifests(name, self.settings.namespace, image, parsed, keys, created=_now())
        files = {f"{m['kind'].lower()}.yaml": to_yaml(m) for m in manifests}
        return RenderedFiles(files=files, secret={"secret.yaml"} if keys else set())

    def deploy(self, name: str, image: str, options: DeployOptions) -> Deployment:
        validate_name(name)
        current = self._read_deployment(name)
        if current is None:
            parsed, keys, created, previous = _options(options), None, _now(), None
        else:
            stored = json.loads((current.metadata.annotations or {}).get(ANNOTATION_OPTIONS, "{}"))
            old_options = parse_model(KubernetesOptions, stored, what="stored options")
            parsed = merge_options(KubernetesOptions, stored, options, what="options for target 'kubernetes'")
            keys = self._read_keys(name)
            created = (current.metadata.annotations or {}).get(ANNOTATION_CREATED) or _now()
            previous = render_manifests(name, self.settings.namespace, current.spec.template.spec.containers[0].image,
                                        old_options, keys, created=created)
        keys = resolve_keys(parsed, keys)
        manifests = render_manifests(name, self.settings.namespace, image, parsed, keys, created=created)
        self._apply_all(manifests, dry_run=True)
        try:
            self._apply_all(manifests)
            self._prune(name, manifests)
            self._wait_for_rollout(name, parsed.timeout_s)
        except DeployError as exc:
            raise DeployError(f"{self._undo(name, previous)}. {exc}") from exc
        logger.info("deployed %s (%s) to namespace %s", name, image, self.settings.namespace)
        return self.status(name)

    def status(self, name: str) -> Deployment:
        current = self._read_deployment(name)
        if current is None:
            raise self._not_found(name)
        return self._describe(current)

    def logs(self, name: str, *, tail: int = 200) -> str:
        if self._read_deployment(name) is None:
            raise self._not_found(name)
        return self._pod_logs(name, tail)

    def delete(self, name: str) -> None:
        if self._read_deployment(name) is None and not self._owned_objects(name):
            raise self._not_found(name)
        self._delete_objects(name, list(_KINDS))
        logger.info("deleted deployment %s from namespace %s", name, self.settings.namespace)

    def list(self) -> list[Deployment]:
        found = self._apps().list_namespaced_deployment(self.settings.namespace, label_selector=LABEL_DEPLOYMENT)
        return [self._describe(item) for item in found.items]

    # -- applying and waiting --------------------------------------------------------------------
    def _apply_all(self, manifests: list[Manifest], *, dry_run: bool = False) -> None:
        from kubernetes.client.exceptions import ApiException

        for manifest in manifests:
            resource = self._resource(manifest["apiVersion"], manifest["kind"])
            try:
                self._dynamic.server_side_apply(resource, body=manifest, namespace=self.settings.namespace,
                                                field_manager=FIELD_MANAGER, force_conflicts=True,
                                                dry_run="All" if dry_run else None)
            except ApiException as exc:
                what = f"{manifest['kind']} {manifest['metadata']['name']}"
                stage = "refused (server-side dry run; nothing was changed)" if dry_run else "could not be applied"
                raise DeployError(f"{what} {stage}: {_api_message(exc)}") from exc

    def _prune(self, name: str, manifests: list[Manifest]) -> None:
        """Delete objects an earlier version had and this one does not (HPA, Secret)."""
        wanted = {(m["apiVersion"], m["kind"]) for m in manifests}
        self._delete_objects(name, [kind for kind in _KINDS if kind not in wanted])

    def _wait_for_rollout(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            item = self._apps().read_namespaced_deployment(name, self.settings.namespace)
            wanted = item.spec.replicas if item.spec.replicas is not None else 1
            st = item.status
            if ((st.observed_generation or 0) >= item.metadata.generation and (st.updated_replicas or 0) >= wanted
                    and (st.available_replicas or 0) >= wanted and not st.unavailable_replicas):
                return
            for condition in st.conditions or []:
                if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
                    raise DeployError(f"the rollout stopped: {condition.message}.{self._failure_detail(name)}")
            stuck = self._stuck_reason(name)
            if stuck:
                raise DeployError(f"pods of '{name}' cannot start: {stuck}.{self._failure_detail(name)}")
            if time.monotonic() > deadline:
                raise DeployError(f"'{name}' was not ready after {timeout_s:g} s ({st.available_replicas or 0} of "
                                  f"{wanted} pods available).{self._failure_detail(name)}")
            time.sleep(2)

    def _undo(self, name: str, previous: list[Manifest] | None) -> str:
        """Put things back after a failed rollout; say what was done."""
        if previous is None:
            self._delete_objects(name, list(_KINDS))
            return f"deploying '{name}' failed and everything it created was deleted again"
        try:
            self._apply_all(previous)
            self._prune(name, previous)
        except DeployError as exc:
            return f"updating '{name}' failed and re-applying the previous version failed too ({exc})"
        return f"updating '{name}' failed; the previous version was re-applied (same image, options and keys)"

    def _stuck_reason(self, name: str) -> str | None:
        for pod in self._pods(name):
            for status in pod.status.container_statuses or []:
                waiting = status.state.waiting if status.state else None
                if waiting and waiting.reason in _STUCK_REASONS:
                    return f"{pod.metadata.name}: {waiting.reason}: {waiting.message or ''}".rstrip(": ")
        return None

    def _failure_detail(self, name: str) -> str:
        logs = self._pod_logs(name, LOG_TAIL_LINES, only_unready=True)
        return f" Last {LOG_TAIL_LINES} log lines:\n{logs}" if logs else ""

    # -- reading state back ----------------------------------------------------------------------
    def _read_deployment(self, name: str) -> Any | None:
        from kubernetes.client.exceptions import ApiException

        try:
            item = self._apps().read_namespaced_deployment(name, self.settings.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise DeployError(f"cannot read Deployment {name}: {_api_message(exc)}") from exc
        if (item.metadata.labels or {}).get(LABEL_DEPLOYMENT) != name:
            raise DeployError(f"a Deployment named '{name}' exists in namespace {self.settings.namespace} but "
                              "Shipyard did not make it; pick another --name")
        return item

    def _read_keys(self, name: str) -> DeploymentKeys | None:
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self._core().read_namespaced_secret(keys_secret_name(name), self.settings.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise DeployError(f"cannot read the keys of '{name}': {_api_message(exc)}") from exc
        data = secret.data or {}
        decode = lambda key: base64.b64decode(data.get(key, "")).decode()  # noqa: E731
        return DeploymentKeys(decode("primary-key"), decode("secondary-key")) if data else None

    def _pods(self, name: str) -> list[Any]:
        return self._core().list_namespaced_pod(self.settings.namespace,
                                                label_selector=f"{LABEL_DEPLOYMENT}={name}").items

    def _pod_logs(self, name: str, tail: int, *, only_unready: bool = False) -> str:
        from kubernetes.client.exceptions import ApiException

        chunks = []
        for pod in self._pods(name):
            ready = any(c.ready for c in pod.status.container_statuses or [])
            if only_unready and ready:
                continue
            try:
                text = self._core().read_namespaced_pod_log(pod.metadata.name, self.settings.namespace,
                                                            container=CONTAINER_NAME, tail_lines=tail)
            except ApiException as exc:
                text = f"(no log: {_api_message(exc)})"
            chunks.append(f"==> pod {pod.metadata.name} <==\n{text.rstrip()}")
        return "\n".join(chunks)

    def _owned_objects(self, name: str) -> list[tuple[str, str]]:
        from kubernetes.client.exceptions import ApiException

        found = []
        for api_version, kind in _KINDS:
            object_name = keys_secret_name(name) if kind == "Secret" else name
            try:
                self._resource(api_version, kind).get(name=object_name, namespace=self.settings.namespace)
                found.append((api_version, kind))
            except ApiException as exc:
                if exc.status != 404:
                    raise DeployError(f"cannot read {kind} {object_name}: {_api_message(exc)}") from exc
        return found

    def _delete_objects(self, name: str, kinds: list[tuple[str, str]]) -> None:
        from kubernetes.client.exceptions import ApiException

        for api_version, kind in reversed(kinds):
            object_name = keys_secret_name(name) if kind == "Secret" else name
            try:
                self._resource(api_version, kind).delete(name=object_name, namespace=self.settings.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise DeployError(f"cannot delete {kind} {object_name}: {_api_message(exc)}") from exc

    def _not_found(self, name: str) -> DeploymentNotFoundError:
        return DeploymentNotFoundError(f"no deployment named '{name}' in namespace {self.settings.namespace}; "
                                       "'shipyard list --target kubernetes' shows the ones there")

    def _describe(self, item: Any) -> Deployment:
        name = item.metadata.name
        annotations = item.metadata.annotations or {}
        base = self._service_url(name)
        status = item.status
        wanted = item.spec.replicas if item.spec.replicas is not None else 1
        return Deployment(
            name=name,
            target=self.name,
            image=item.spec.template.spec.containers[0].image,
            state=_state(item, wanted, self._stuck_reason(name)),
            scoring_uri=f"{base}/score" if base else None,
            swagger_uri=f"{base}/swagger.json" if base else None,
            keys=self._read_keys(name),
            created_at=annotations.get(ANNOTATION_CREATED),
            details={"namespace": self.settings.namespace, "replicas": wanted,
                     "ready_replicas": status.ready_replicas or 0,
                     "updated_replicas": status.updated_replicas or 0,
                     "available_replicas": status.available_replicas or 0},
        )

    def _service_url(self, name: str) -> str | None:
        """The load balancer's address when there is one, else the in-cluster DNS name."""
        from kubernetes.client.exceptions import ApiException

        try:
            service = self._core().read_namespaced_service(name, self.settings.namespace)
        except ApiException:
            return None
        port = service.spec.ports[0].port
        ingress = (service.status.load_balancer.ingress or []) if service.status.load_balancer else []
        if ingress:
            host = ingress[0].ip or ingress[0].hostname
            return f"http://{host}:{port}"
        return f"http://{name}.{self.settings.namespace}.svc.cluster.local:{port}"


def _state(item: Any, wanted: int, stuck: str | None) -> DeploymentState:
    status = item.status
    if stuck:
        return "Failed" if "CrashLoop" in stuck else "Unhealthy"
    if wanted == 0:
        return "Stopped"
    if (status.observed_generation or 0) < item.metadata.generation or (status.updated_replicas or 0) < wanted:
        return "Transitioning"
    if (status.available_replicas or 0) >= wanted:
        return "Healthy"
    return "Transitioning" if status.available_replicas else "Unhealthy"


def _api_message(exc: Any) -> str:
    try:
        return json.loads(exc.body).get("message") or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return f"{exc.status} {exc.reason}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _in_cluster() -> bool:
    return "KUBERNETES_SERVICE_HOST" in os.environ and not os.environ.get("KUBECONFIG")
