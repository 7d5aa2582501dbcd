"""The IoT Edge deployment manifest for one scoring module: render it, and check it.

Fleets managed by an IoT hub receive modules through a *deployment manifest*: a JSON document
whose ``modulesContent`` holds the desired properties of the two runtime modules, ``$edgeAgent``
(which containers to run, how to create and restart them) and ``$edgeHub`` (message routes). This
is the file ``az iot edge set-modules --content deployment.json`` takes, so Azure ML v1 users who
deployed to IoT Edge keep their fleet tooling.

Each module's ``settings.createOptions`` is the Docker Engine "create container" body (port
bindings, GPU device requests...) *as a JSON string*, cut into 512-character pieces named
``createOptions``, ``createOptions01``, ``createOptions02``... the way the IoT Edge tooling splits
it. Validation uses the JSON Schema in ``shipyard/templates/edge/iotedge-deployment.schema.json``,
which restates the public SchemaStore schemas for this format (see its ``$comment``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from shipyard.errors import SpecError

RestartPolicy = Literal["never", "on-failure", "on-unhealthy", "always"]

EDGE_RUNTIME_VERSION = "1.5"  # the supported IoT Edge LTS release
CREATE_OPTIONS_CHUNK = 512
_MAX_CHUNKS = 100  # createOptions + createOptions01..99
_MODULE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_HUB_CREATE_OPTIONS = {"HostConfig": {"PortBindings": {
    f"{port}/tcp": [{"HostPort": str(port)}] for port in (443, 5671, 8883)}}}


@dataclass(frozen=True)
class EdgeModule:
    """The scoring container as an IoT Edge module.

    Attributes:
        name: module name (letters, digits, ``_`` and ``-``).
        image: image reference the device can pull or has loaded (``name:tag``).
        container_port: the port the runtime listens on inside the container.
        host_port: the port published on the device; ``None`` publishes nothing.
        more_ports: more ports to publish, container port -> device port (gRPC's).
        env: plain environment variables for the container (the API keys are among them when
            auth is on: IoT Edge has no other way to hand secrets to a module).
        host_config: more Docker ``HostConfig`` settings (GPU device requests, CPU and memory
            limits), in the Engine API's JSON form.
        healthcheck: the Engine API's ``Healthcheck`` (timing for the image's check), or ``None``.
        restart_policy: what the edge agent does when the container stops.
        image_pull_policy: ``never`` when the image arrives in an offline bundle, ``on-create``
            when the device pulls it from a registry.
        version: the module's version string, shown by the hub.
        routes: edgeHub routes by name; default: the module's outputs go upstream.
    """

    name: str
    image: str
    container_port: int = 5001
    host_port: int | None = 5001
    more_ports: Mapping[int, int] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    host_config: Mapping[str, Any] = field(default_factory=dict)
    healthcheck: Mapping[str, Any] | None = None
    restart_policy: RestartPolicy = "always"
    image_pull_policy: Literal["on-create", "never"] = "never"
    version: str = "1.0"
    routes: Mapping[str, str] | None = None


def container_create_options(module: EdgeModule) -> dict[str, Any]:
    """The Docker "create container" options for the module (ports, GPUs, limits)."""
    published = {module.container_port: module.host_port, **module.more_ports}
    host_config: dict[str, Any] = dict(module.host_config)
    bindings = {f"{inside}/tcp": [{"HostPort": str(host)}] for inside, host in published.items() if host is not None}
    if bindings:
        host_config["PortBindings"] = bindings
    options: dict[str, Any] = {"ExposedPorts": {f"{inside}/tcp": {} for inside in published}}
    if host_config:
        options["HostConfig"] = host_config
    if module.healthcheck is not None:
        options["Healthcheck"] = dict(module.healthcheck)
    return options


def split_create_options(options: Mapping[str, Any]) -> dict[str, str]:
    """Serialise create options and cut them into the ``createOptions``, ``createOptions01``... keys."""
    text = json.dumps(options, separators=(",", ":"), sort_keys=True)
    chunks = [text[i:i + CREATE_OPTIONS_CHUNK] for i in range(0, len(text), CREATE_OPTIONS_CHUNK)]
    if len(chunks) > _MAX_CHUNKS:
        raise SpecError(f"createOptions is {len(text)} characters; IoT Edge takes at most "
                        f"{CREATE_OPTIONS_CHUNK * _MAX_CHUNKS}", field="createOptions")
    return {("createOptions" if i == 0 else f"createOptions{i:02d}"): chunk for i, chunk in enumerate(chunks)}


def join_create_options(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Reassemble and parse a module's chunked ``createOptions`` (the inverse of the split)."""
    keys = sorted((k for k in settings if k.lower().startswith("createoptions")),
                  key=lambda k: int(k[len("createOptions"):] or 0))
    text = "".join(settings[k] for k in keys)
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"createOptions is not valid JSON: {exc}", field="createOptions") from exc
    if not isinstance(value, dict):
        raise SpecError("createOptions must be a JSON object", field="createOptions")
    return value


def render_deployment_manifest(module: EdgeModule, *, edge_version: str = EDGE_RUNTIME_VERSION,
                               store_and_forward_ttl_s: int = 7200) -> dict[str, Any]:
    """The IoT Edge deployment manifest running *module* next to the edge runtime's own modules.

    Raises:
        SpecError: the module's name or options break the format's rules.
    """
    if not _MODULE_NAME_RE.match(module.name):
        raise SpecError(f"IoT Edge module name {module.name!r} may only hold letters, digits, "
                        "'_' and '-'", field="name")
    routes = dict(module.routes) if module.routes is not None else {
        f"{module.name}ToUpstream": f"FROM /messages/modules/{module.name}/outputs/* INTO $upstream"}
    system_modules = {
        "edgeAgent": {"type": "docker",
                      "settings": {"image": f"mcr.microsoft.com/azureiotedge-agent:{edge_version}",
                                   "createOptions": "{}"}},
        "edgeHub": {"type": "docker", "status": "running", "restartPolicy": "always",
                    "settings": {"image": f"mcr.microsoft.com/azureiotedge-hub:{edge_version}",
                                 **split_create_options(_HUB_CREATE_OPTIONS)}},
    }
    scoring_module: dict[str, Any] = {
        "version": module.version, "type": "docker", "status": "running",
        "restartPolicy": module.restart_policy, "imagePullPolicy": module.image_pull_policy,
        "settings": {"image": module.image, **split_create_options(container_create_options(module))},
    }
    if module.env:
        scoring_module["env"] = {key: {"value": value} for key, value in sorted(module.env.items())}
    manifest = {"modulesContent": {
        "$edgeAgent": {"properties.desired": {
            "schemaVersion": "1.1",
            "runtime": {"type": "docker", "settings": {"minDockerVersion": "v1.25", "loggingOptions": "",
                                                       "registryCredentials": {}}},
            "systemModules": system_modules,
            "modules": {module.name: scoring_module},
        }},
        "$edgeHub": {"properties.desired": {
            "schemaVersion": "1.2",
            "routes": routes,
            "storeAndForwardConfiguration": {"timeToLiveSecs": store_and_forward_ttl_s},
        }},
    }}
    validate_deployment_manifest(manifest)
    return manifest


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema_text = resources.files("shipyard.templates.edge").joinpath(
        "iotedge-deployment.schema.json").read_text(encoding="utf-8")
    schema = json.loads(schema_text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_deployment_manifest(manifest: Mapping[str, Any], *, file: str | None = None) -> None:
    """Check a deployment manifest against the format's schema and every module's createOptions.

    Raises:
        SpecError: naming the first offending JSON path (``modulesContent.$edgeAgent...``) and why.
    """
    errors = sorted(_validator().iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(part) for part in first.absolute_path) or "(document)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise SpecError(f"not a valid IoT Edge deployment manifest: {first.message}{more}",
                        file=file, field=path)
    desired = manifest["modulesContent"]["$edgeAgent"]["properties.desired"]
    modules = {**desired["systemModules"], **desired["modules"]}
    for name, module in modules.items():
        try:
            join_create_options(module["settings"])
        except SpecError as exc:
            raise SpecError(str(exc), file=file, field=f"modules.{name}.settings.createOptions") from exc
