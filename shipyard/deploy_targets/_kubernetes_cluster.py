"""One namespace of one cluster, seen through the official client: the calls the target makes.

Everything that talks to the API server lives here (connection, server-side apply, reads and
deletes of the five objects a deployment owns, pods and their logs), with the client's
``ApiException`` translated into :class:`~shipyard.errors.DeployError` once. The ``kubernetes``
package is imported on first use, so loading the target costs nothing until a cluster is needed.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from shipyard.deploy_targets.base import DeploymentKeys
from shipyard.deploy_targets.kubernetes_manifests import CONTAINER_NAME, LABEL_DEPLOYMENT, Manifest, keys_secret_name
from shipyard.errors import DeployError

FIELD_MANAGER = "shipyard"
KINDS = (("v1", "Secret"), ("apps/v1", "Deployment"), ("v1", "Service"),
         ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"))
"""Every kind a deployment may own, in apply order (deleted in reverse)."""
STUCK_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
                 "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
"""Container waiting reasons that will not fix themselves while we wait."""


def api_message(exc: Any) -> str:
    """The API server's own message from an ``ApiException``."""
    try:
        return json.loads(exc.body).get("message") or str(exc.reason)
    except (TypeError, ValueError, AttributeError):
        return f"{exc.status} {exc.reason}"


def _object_name(name: str, kind: str) -> str:
    return keys_secret_name(name) if kind == "Secret" else name


class Cluster:
    """The configured cluster and namespace (``kubeconfig``, ``context``, ``namespace``)."""

    def __init__(self, kubeconfig: str | None, context: str | None, namespace: str) -> None:
        self.kubeconfig, self.context, self.namespace = kubeconfig, context, namespace
        self._api: Any = None
        self._dynamic: Any = None

    @property
    def api(self) -> Any:
        """A ``kubernetes.client.ApiClient`` (created on first use)."""
        if self._api is None:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException

            in_cluster = "KUBERNETES_SERVICE_HOST" in os.environ and not os.environ.get("KUBECONFIG")
            try:
                if self.kubeconfig or not in_cluster:
                    self._api = config.new_client_from_config(config_file=self.kubeconfig, context=self.context)
                else:
                    config.load_incluster_config()
                    self._api = client.ApiClient()
            except (ConfigException, OSError) as exc:
                where = self.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
                raise DeployError(f"cannot load the Kubernetes configuration from {where} ({exc}); set "
                                  "KUBECONFIG or --kubeconfig to a kubeconfig file for your cluster") from exc
        return self._api

    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api)

    def apps(self) -> Any:
        from kubernetes import client

        return client.AppsV1Api(self.api)

    def _resource(self, api_version: str, kind: str) -> Any:
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic = DynamicClient(self.api)
        return self._dynamic.resources.get(api_version=api_version, kind=kind)

    # -- writing ---------------------------------------------------------------------------------
    def apply(self, manifests: list[Manifest], *, dry_run: bool = False) -> None:
        """Server-side apply each manifest (field manager ``shipyard``), or only dry-run it."""
        from kubernetes.client.exceptions import ApiException

        for manifest in manifests:
            resource = self._resource(manifest["apiVersion"], manifest["kind"])
            try:
                self._dynamic.server_side_apply(resource, body=manifest, namespace=self.namespace,
                                                field_manager=FIELD_MANAGER, force_conflicts=True,
                                                dry_run="All" if dry_run else None)
            except ApiException as exc:
                what = f"{manifest['kind']} {manifest['metadata']['name']}"
                stage = "refused (server-side dry run; nothing was changed)" if dry_run else "could not be applied"
                raise DeployError(f"{what} {stage}: {api_message(exc)}") from exc

    def delete(self, name: str, kinds: list[tuple[str, str]]) -> None:
        """Delete the deployment's objects of these kinds, in reverse apply order; missing ones are fine."""
        from kubernetes.client.exceptions import ApiException

        for api_version, kind in reversed(kinds):
            try:
                self._resource(api_version, kind).delete(name=_object_name(name, kind), namespace=self.namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise DeployError(f"cannot delete {kind} {_object_name(name, kind)}: {api_message(exc)}") from exc

    # -- reading ---------------------------------------------------------------------------------
    def existing_kinds(self, name: str) -> list[tuple[str, str]]:
        """Which of the deployment's objects exist (to clean up after a half-finished delete)."""
        from kubernetes.client.exceptions import ApiException

        found = []
        for api_version, kind in KINDS:
            try:
                self._resource(api_version, kind).get(name=_object_name(name, kind), namespace=self.namespace)
                found.append((api_version, kind))
            except ApiException as exc:
                if exc.status != 404:
                    raise DeployError(f"cannot read {kind} {_object_name(name, kind)}: {api_message(exc)}") from exc
        return found

    def read_deployment(self, name: str) -> Any | None:
        """The Deployment, or None; refuses one Shipyard did not make."""
        from kubernetes.client.exceptions import ApiException

        try:
            item = self.apps().read_namespaced_deployment(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise DeployError(f"cannot read Deployment {name}: {api_message(exc)}") from exc
        if (item.metadata.labels or {}).get(LABEL_DEPLOYMENT) != name:
            raise DeployError(f"a Deployment named '{name}' exists in namespace {self.namespace} but "
                              "Shipyard did not make it; pick another --name")
        return item

    def list_deployments(self) -> list[Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.apps().list_namespaced_deployment(self.namespace, label_selector=LABEL_DEPLOYMENT).items
        except ApiException as exc:
            raise DeployError(f"cannot list Deployments in {self.namespace}: {api_message(exc)}") from exc

    def read_keys(self, name: str) -> DeploymentKeys | None:
        """The keys from the ``<name>-keys`` Secret; None when there is none (auth off)."""
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self.core().read_namespaced_secret(keys_secret_name(name), self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise DeployError(f"cannot read the keys of '{name}': {api_message(exc)}") from exc
        data = secret.data or {}
        if not data:
            return None
        primary, secondary = (base64.b64decode(data.get(key, "")).decode() for key in ("primary-key", "secondary-key"))
        return DeploymentKeys(primary, secondary)

    def pods(self, name: str) -> list[Any]:
        return self.core().list_namespaced_pod(self.namespace, label_selector=f"{LABEL_DEPLOYMENT}={name}").items

    def pod_logs(self, name: str, tail: int, *, only_unready: bool = False) -> str:
        """Each pod's last ``tail`` log lines under a ``==> pod NAME <==`` header."""
        from kubernetes.client.exceptions import ApiException

        chunks = []
        for pod in self.pods(name):
            if only_unready and any(c.ready for c in pod.status.container_statuses or []):
                continue
            try:
                text = self.core().read_namespaced_pod_log(pod.metadata.name, self.namespace,
                                                           container=CONTAINER_NAME, tail_lines=tail)
            except ApiException as exc:
                text = f"(no log: {api_message(exc)})"
            chunks.append(f"==> pod {pod.metadata.name} <==\n{text.rstrip()}")
        return "\n".join(chunks)

    def stuck_reason(self, name: str) -> str | None:
        """Why a pod cannot start (image pull, crash loop, missing Secret...), if one cannot."""
        for pod in self.pods(name):
            for status in pod.status.container_statuses or []:
                waiting = status.state.waiting if status.state else None
                if waiting and waiting.reason in STUCK_REASONS:
                    return f"{pod.metadata.name}: {waiting.reason}: {waiting.message or ''}".rstrip(": ")
        return None

    def service_url(self, name: str) -> str | None:
        """The load balancer's address when there is one, else the in-cluster DNS name."""
        from kubernetes.client.exceptions import ApiException

        try:
            service = self.core().read_namespaced_service(name, self.namespace)
        except ApiException:
            return None
        port = service.spec.ports[0].port
        ingress = (service.status.load_balancer.ingress or []) if service.status.load_balancer else []
        if ingress:
            return f"http://{ingress[0].ip or ingress[0].hostname}:{port}"
        return f"http://{name}.{self.namespace}.svc.cluster.local:{port}"
