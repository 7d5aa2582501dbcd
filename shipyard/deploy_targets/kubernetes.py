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

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import AliasChoices, Field

from shipyard.deploy_targets._keys import resolve_keys
from shipyard.deploy_targets._kubernetes_cluster import KINDS, Cluster
from shipyard.deploy_targets.base import Deployment, DeploymentState, RenderedFiles, validate_name
from shipyard.deploy_targets.kubernetes_manifests import (
    ANNOTATION_CREATED,
    ANNOTATION_OPTIONS,
    KubernetesOptions,
    Manifest,
    render_manifests,
    to_yaml,
)
from shipyard.deploy_targets.options import DeployOptions, TargetSettings, merge_options, parse_model
from shipyard.errors import DeployError, DeploymentNotFoundError

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 30


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
        self.cluster = Cluster(self.settings.kubeconfig, self.settings.context, self.settings.namespace)

    # -- the protocol ----------------------------------------------------------------------------
    def render(self, name: str, image: str, options: DeployOptions) -> RenderedFiles:
        parsed = _options(options)
        keys = resolve_keys(parsed, None)
        manifests = render_manifests(name, self.settings.namespace, image, parsed, keys, created=_now())
        files = {f"{m['kind'].lower()}.yaml": to_yaml(m) for m in manifests}
        return RenderedFiles(files=files, secret={"secret.yaml"} if keys else set())

    def deploy(self, name: str, image: str, options: DeployOptions) -> Deployment:
        validate_name(name)
        current = self.cluster.read_deployment(name)
        if current is None:
            parsed, keys, created, previous = _options(options), None, _now(), None
        else:
            annotations = current.metadata.annotations or {}
            stored = json.loads(annotations.get(ANNOTATION_OPTIONS, "{}"))
            parsed = merge_options(KubernetesOptions, stored, options, what="options for target 'kubernetes'")
            keys = self.cluster.read_keys(name)
            created = annotations.get(ANNOTATION_CREATED) or _now()
            previous = render_manifests(name, self.settings.namespace, current.spec.template.spec.containers[0].image,
                                        parse_model(KubernetesOptions, stored, what="stored options"), keys,
                                        created=created)
        keys = resolve_keys(parsed, keys)
        manifests = render_manifests(name, self.settings.namespace, image, parsed, keys, created=created)
        self.cluster.apply(manifests, dry_run=True)
        try:
            self.cluster.apply(manifests)
            self._prune(name, manifests)
            self._wait_for_rollout(name, parsed.timeout_s)
        except DeployError as exc:
            raise DeployError(f"{self._undo(name, previous)}. {exc}") from exc
        logger.info("deployed %s (%s) to namespace %s", name, image, self.settings.namespace)
        return self.status(name)

    def status(self, name: str) -> Deployment:
        current = self.cluster.read_deployment(name)
        if current is None:
            raise self._not_found(name)
        return self._describe(current)

    def logs(self, name: str, *, tail: int = 200) -> str:
        if self.cluster.read_deployment(name) is None:
            raise self._not_found(name)
        return self.cluster.pod_logs(name, tail)

    def delete(self, name: str) -> None:
        if self.cluster.read_deployment(name) is None and not self.cluster.existing_kinds(name):
            raise self._not_found(name)
        self.cluster.delete(name, list(KINDS))
        logger.info("deleted deployment %s from namespace %s", name, self.settings.namespace)

    def list(self) -> list[Deployment]:
        return [self._describe(item) for item in self.cluster.list_deployments()]

    # -- rollout ---------------------------------------------------------------------------------
    def _prune(self, name: str, manifests: list[Manifest]) -> None:
        """Delete objects an earlier version had and this one does not (HPA, Secret)."""
        wanted = {(m["apiVersion"], m["kind"]) for m in manifests}
        self.cluster.delete(name, [kind for kind in KINDS if kind not in wanted])

    def _wait_for_rollout(self, name: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            item = self.cluster.read_deployment(name)
            if item is None:
                raise DeployError(f"the Deployment '{name}' disappeared during the rollout")
            wanted = item.spec.replicas if item.spec.replicas is not None else 1
            st = item.status
            if ((st.observed_generation or 0) >= item.metadata.generation and (st.updated_replicas or 0) >= wanted
                    and (st.available_replicas or 0) >= wanted and not st.unavailable_replicas):
                return
            for condition in st.conditions or []:
                if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
                    raise DeployError(f"the rollout stopped: {condition.message}.{self._failure_detail(name)}")
            stuck = self.cluster.stuck_reason(name)
            if stuck:
                raise DeployError(f"pods of '{name}' cannot start: {stuck}.{self._failure_detail(name)}")
            if time.monotonic() > deadline:
                raise DeployError(f"'{name}' was not ready after {timeout_s:g} s ({st.available_replicas or 0} of "
                                  f"{wanted} pods available).{self._failure_detail(name)}")
            time.sleep(2)

    def _undo(self, name: str, previous: list[Manifest] | None) -> str:
        """Put things back after a failed rollout; say what was done."""
        try:
            if previous is None:
                self.cluster.delete(name, list(KINDS))
                return f"deploying '{name}' failed and everything it created was deleted again"
            self.cluster.apply(previous)
            self._prune(name, previous)
        except DeployError as exc:
            return f"deploying '{name}' failed and putting things back failed too ({exc})"
        return f"updating '{name}' failed; the previous version was re-applied (same image, options and keys)"

    def _failure_detail(self, name: str) -> str:
        logs = self.cluster.pod_logs(name, LOG_TAIL_LINES, only_unready=True)
        return f" Last {LOG_TAIL_LINES} log lines:\n{logs}" if logs else ""

    # -- reading state back ----------------------------------------------------------------------
    def _not_found(self, name: str) -> DeploymentNotFoundError:
        return DeploymentNotFoundError(f"no deployment named '{name}' in namespace {self.settings.namespace}; "
                                       "'shipyard list --target kubernetes' shows the ones there")

    def _describe(self, item: Any) -> Deployment:
        name = item.metadata.name
        base = self.cluster.service_url(name)
        status = item.status
        wanted = item.spec.replicas if item.spec.replicas is not None else 1
        return Deployment(
            name=name,
            target=self.name,
            image=item.spec.template.spec.containers[0].image,
            state=_state(item, wanted, self.cluster.stuck_reason(name)),
            scoring_uri=f"{base}/score" if base else None,
            swagger_uri=f"{base}/swagger.json" if base else None,
            keys=self.cluster.read_keys(name),
            created_at=(item.metadata.annotations or {}).get(ANNOTATION_CREATED),
            details={"namespace": self.settings.namespace, "replicas": wanted,
                     "ready_replicas": status.ready_replicas or 0,
                     "updated_replicas": status.updated_replicas or 0,
                     "available_replicas": status.available_replicas or 0},
        )


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
