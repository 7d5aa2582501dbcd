"""``shipyard deploy``, ``status``, ``logs``, ``delete``, ``list`` and ``invoke``.

Each command turns its flags into target ``settings`` (where: engine, cluster, namespace) and
``options`` (how: CPU, replicas, keys...), calls one function of :mod:`shipyard.deploy_targets`
and prints the result. Flags left out are not sent at all, so updating a deployment changes only
what was given. The option names follow Azure ML's ``deploy_configuration`` (see
``docs/deploying.md`` for the mapping).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Optional

import typer

from shipyard.deploy_targets import api
from shipyard.deploy_targets.base import Deployment
from shipyard.deploy_targets.config_file import load_deployment_config, merged_options
from shipyard.deploy_targets.options import GpuRequest
from shipyard.deploy_targets.registry import load_target_class
from shipyard.errors import SpecError

# flag -> options field; used to send only what was given and to name flags in errors
_OPTION_FLAGS = {
    "--cpu": "cpu_cores", "--memory": "memory_gb", "--gpus": "gpus", "--env": "env",
    "--auth/--no-auth": "auth_enabled", "--primary-key": "primary_key", "--secondary-key": "secondary_key",
    "--timeout": "timeout_s", "--port": "port", "--grpc-port": "grpc_port", "--bind": "bind_address", "--restart": "restart_policy",
    "--replicas": "replicas", "--min-replicas": "min_replicas", "--max-replicas": "max_replicas",
    "--target-utilization": "target_utilization", "--cpu-limit": "cpu_cores_limit",
    "--memory-limit": "memory_gb_limit", "--container-port": "container_port",
    "--service-type": "service_type", "--service-port": "service_port", "--node-selector": "node_selector",
    "--image-pull-secret": "image_pull_secrets",
}

_TARGET = typer.Option("container", "--target", "-t",
                       help="Where: container (a Docker Engine), kubernetes, or edge (a device's engine).")
_JSON = typer.Option(False, "--json", help="Print one JSON object instead of text.")

# settings field -> its flag: where a deployment lives. Every command that reaches a target takes
# these flags through @_target_settings, which hands them over as one ``settings`` dict.
_SETTING_FLAGS = {
    "docker_host": typer.Option(None, "--docker-host", help="[container] Engine: tcp://HOST:2375, ssh://USER@HOST "
                                                            "(default: DOCKER_HOST or the local socket)."),
    "public_host": typer.Option(None, "--public-host", help="[container, edge] Host name to put in scoring URIs."),
    "namespace": typer.Option(None, "--namespace", help="[kubernetes] Namespace (default: default)."),
    "context": typer.Option(None, "--context", help="[kubernetes] Kubeconfig context (default: current)."),
    "kubeconfig": typer.Option(None, "--kubeconfig", help="[kubernetes] Kubeconfig file (default: KUBECONFIG)."),
    "device": typer.Option(None, "--device", help="[edge] The device's engine: ssh://USER@HOST or tcp://HOST:2375 "
                                                  "(default: SHIPYARD_EDGE_DEVICE)."),
}
# Default of a command's ``settings`` parameter: @_target_settings puts the flags in its place.
_SETTINGS: Any = None


def register(app: typer.Typer) -> None:
    """Add this module's commands to *app*."""
    app.command("deploy")(deploy)
    app.command("deploy-to-target", help="Same as 'deploy'.")(deploy)
    app.command("status")(status)
    app.command("logs")(logs)
    app.command("delete")(delete)
    app.command("list")(list_deployments)
    app.command("invoke")(invoke)


def _pairs(values: list[str] | None, flag: str) -> dict[str, str] | None:
    if not values:
        return None
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{value!r} is not KEY=VALUE", param_hint=flag)
        pairs[key] = val
    return pairs


def _target_settings(*, public_host: bool = True) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the target-settings flags in place of its ``settings`` parameter.

    Typer reads flags from a command's signature, so without this every command would list the
    same settings parameters and rebuild the dict from them. The command gets only the flags that were
    given, so settings left out are not sent. ``public_host=False``: for commands that print no URI.
    """
    names = [name for name in _SETTING_FLAGS if public_host or name != "public_host"]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        parameters: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            if parameter.name != "settings":
                parameters.append(parameter)
                continue
            parameters += [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                             default=_SETTING_FLAGS[name], annotation=Optional[str])
                           for name in names]

        @functools.wraps(command)
        def run(**kwargs: Any) -> None:
            given = {name: kwargs.pop(name) for name in names}
            command(**kwargs, settings={name: value for name, value in given.items() if value is not None})

        run.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return run

    return decorate


def _checked_options(target: str, given: dict[str, Any]) -> dict[str, Any]:
    """Drop flags left out; refuse flags the target does not take, naming the flag."""
    options = {field: value for field, value in given.items() if value is not None}
    accepted = load_target_class(target).options_model.model_fields
    for flag, field in _OPTION_FLAGS.items():
        if field in options and field not in accepted:
            takes = sorted(f for f, name in _OPTION_FLAGS.items() if name in accepted)
            raise SpecError(f"{flag} does not apply to --target {target}; it takes {', '.join(takes)}")
    return options


@contextlib.contextmanager
def _named_as_flags(fields: set[str]) -> Iterator[None]:
    """An invalid option value given as a flag is named as that flag (``--cpu``), not as its field."""
    try:
        yield
    except SpecError as exc:
        flag = next((flag for flag, field in _OPTION_FLAGS.items() if field == exc.field), None)
        if flag is None or exc.field not in fields:
            raise
        text = str(exc).removeprefix(f"field '{exc.field}': ").replace(f"'{exc.field}'", flag)
        raise SpecError(text) from exc


def _print(deployment: Deployment, *, as_json: bool, show_keys: bool) -> None:
    if as_json:
        typer.echo(json.dumps(deployment.to_dict(include_keys=True), indent=2))
        return
    rows = [("name", deployment.name), ("target", deployment.target), ("state", deployment.state),
            ("image", deployment.image), ("scoring URI", deployment.scoring_uri),
            ("swagger URI", deployment.swagger_uri), ("created", deployment.created_at)]
    if deployment.keys is None:
        rows.append(("auth", "off"))
    elif show_keys:
        rows += [("primary key", deployment.keys.primary), ("secondary key", deployment.keys.secondary)]
    else:
        rows.append(("auth", "on (show the keys with --show-keys)"))
    rows += [(key.replace("_", " "), value) for key, value in deployment.details.items()]
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        typer.echo(f"{key + ':':<{width + 1}} {'-' if value is None else value}")


@_target_settings()
def deploy(
    source: Optional[str] = typer.Argument(None, help="Image to deploy (iris:1), or a spec (file or folder) to "
                                                      "build first. Leave out to change only the settings of an "
                                                      "existing deployment."),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Deployment name (3-32 chars: a-z, 0-9, '-'). "
                                                                 "An existing name is updated in place."),
    target: Optional[str] = typer.Option(None, "--target", "-t", help="Where: container (a Docker Engine, the "
                                         "default), kubernetes, or edge (a device's engine)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", dir_okay=False,
                                          help="deployment.yaml (from 'shipyard import'): name, target, settings "
                                               "and options; flags given here override it."),
    cpu: Optional[float] = typer.Option(None, "--cpu",
                                        help="CPU cores (Azure cpu_cores): container limit, pod request."),
    memory: Optional[str] = typer.Option(None, "--memory", help="Memory, GB or with unit: 1.5, 512Mi, 2G (memory_gb)."),
    gpus: Optional[str] = typer.Option(None, "--gpus", help="GPUs: all, 1, device=0,1, amd:all (Docker syntax)."),
    env: Optional[list[str]] = typer.Option(None, "--env", "-e", help="Environment variable KEY=VALUE (repeat)."),
    auth: Optional[bool] = typer.Option(None, "--auth/--no-auth", help="Require a key on /score (default: on)."),
    primary_key: Optional[str] = typer.Option(None, "--primary-key", help="Use this key instead of a generated one."),
    secondary_key: Optional[str] = typer.Option(None, "--secondary-key", help="Use this secondary key."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds to wait for readiness (default 300)."),
    port: Optional[int] = typer.Option(None, "--port", "-p",
                                       help="[container, edge] Host port (container: a free one; edge: 5001)."),
    grpc_port: Optional[int] = typer.Option(None, "--grpc-port",
                                            help="[container, edge] Host port for gRPC, when the image serves "
                                                 "it (container: one the engine picks; edge: 8001)."),
    bind: Optional[str] = typer.Option(None, "--bind", help="[container] Host address to publish on (0.0.0.0)."),
    restart: Optional[str] = typer.Option(None, "--restart",
                                          help="[container, edge] no, on-failure, always, unless-stopped."),
    replicas: Optional[int] = typer.Option(None, "--replicas", help="[kubernetes] Fixed pod count; no autoscaler."),
    min_replicas: Optional[int] = typer.Option(None, "--min-replicas", help="[kubernetes] Autoscaler minimum (1)."),
    max_replicas: Optional[int] = typer.Option(None, "--max-replicas", help="[kubernetes] Autoscaler maximum (10)."),
    target_utilization: Optional[int] = typer.Option(None, "--target-utilization",
                                                     help="[kubernetes] Autoscaler CPU target, percent (70)."),
    cpu_limit: Optional[float] = typer.Option(None, "--cpu-limit", help="[kubernetes] CPU limit per pod."),
    memory_limit: Optional[str] = typer.Option(None, "--memory-limit", help="[kubernetes] Memory limit per pod."),
    container_port: Optional[int] = typer.Option(None, "--container-port",
                                                 help="[kubernetes] Port the image listens on (5001)."),
    service_type: Optional[str] = typer.Option(None, "--service-type",
                                               help="[kubernetes] ClusterIP (default), NodePort, LoadBalancer."),
    service_port: Optional[int] = typer.Option(None, "--service-port", help="[kubernetes] Service port (80)."),
    node_selector: Optional[list[str]] = typer.Option(None, "--node-selector", help="[kubernetes] KEY=VALUE (repeat)."),
    image_pull_secret: Optional[list[str]] = typer.Option(None, "--image-pull-secret",
                                                          help="[kubernetes] Registry Secret name (repeat)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", file_okay=False,
                                          help="[kubernetes] Write the manifests to DIR instead of applying them. "
                                               "[edge] Write the bundle and IoT Edge manifest to DIR (with "
                                               "--device: and ship it)."),
    settings: dict[str, Any] = _SETTINGS,
    as_json: bool = _JSON,
) -> None:
    """Deploy an image (or a spec, built first) and print its scoring URI and keys."""
    file = load_deployment_config(config) if config is not None else None
    target = target or (file.target if file else "container")
    name = name or (file.name if file else None)
    if not name:
        raise typer.BadParameter("give --name (or a --config file with a name)", param_hint="--name")
    options = _checked_options(target, {
        "cpu_cores": cpu, "memory_gb": memory, "gpus": GpuRequest.parse(gpus) if gpus else None,
        "env": _pairs(env, "--env"), "auth_enabled": auth, "primary_key": primary_key,
        "secondary_key": secondary_key, "timeout_s": timeout, "port": port, "grpc_port": grpc_port,
        "bind_address": bind,
        "restart_policy": restart, "replicas": replicas, "min_replicas": min_replicas,
        "max_replicas": max_replicas, "target_utilization": target_utilization, "cpu_cores_limit": cpu_limit,
        "memory_gb_limit": memory_limit, "container_port": container_port, "service_type": service_type,
        "service_port": service_port, "node_selector": _pairs(node_selector, "--node-selector"),
        "image_pull_secrets": image_pull_secret or None,
    })
    given_as_flags = set(options)
    if file is not None:
        options = merged_options(file, options)
        settings = {**file.settings, **settings}
    if output is not None and settings.get("device"):  # edge: keep the bundle in DIR and ship it
        options["bundle_dir"] = output
    elif output is not None:
        if source is None:
            raise typer.BadParameter("--output needs the IMAGE or SPEC to render", param_hint="SOURCE")
        with _named_as_flags(given_as_flags):
            files = api.render(source, name=name, output_dir=output, target=target, options=options,
                               settings=settings)
        if as_json:
            typer.echo(json.dumps({"files": [str(path) for path in files]}))
        else:
            for path in files:
                typer.echo(f"wrote {path}")
        return
    with _named_as_flags(given_as_flags):
        deployment = api.deploy(source, name=name, target=target, options=options, settings=settings)
    _print(deployment, as_json=as_json, show_keys=True)


@_target_settings()
def status(
    name: str = typer.Argument(..., help="Deployment name."),
    target: str = _TARGET,
    show_keys: bool = typer.Option(False, "--show-keys", help="Print the keys too (always in --json)."),
    settings: dict[str, Any] = _SETTINGS,
    as_json: bool = _JSON,
) -> None:
    """Show a deployment's state, scoring URI and (with --show-keys) keys, read from the target."""
    _print(api.status(name, target=target, settings=settings), as_json=as_json, show_keys=show_keys)


@_target_settings(public_host=False)
def logs(
    name: str = typer.Argument(..., help="Deployment name."),
    tail: int = typer.Option(200, "--tail", help="How many lines from the end."),
    target: str = _TARGET,
    settings: dict[str, Any] = _SETTINGS,
) -> None:
    """Print the last lines of a deployment's log (every pod's, on Kubernetes)."""
    typer.echo(api.logs(name, tail=tail, target=target, settings=settings))


@_target_settings(public_host=False)
def delete(
    name: str = typer.Argument(..., help="Deployment name."),
    target: str = _TARGET,
    settings: dict[str, Any] = _SETTINGS,
) -> None:
    """Delete a deployment and everything it created on the target."""
    api.delete(name, target=target, settings=settings)
    typer.echo(f"deleted {name}")


@_target_settings()
def list_deployments(
    target: str = _TARGET,
    settings: dict[str, Any] = _SETTINGS,
    as_json: bool = _JSON,
) -> None:
    """List the Shipyard deployments on a target (keys are not shown)."""
    found = api.list_deployments(target=target, settings=settings)
    if as_json:
        typer.echo(json.dumps([d.to_dict(include_keys=False) for d in found], indent=2))
        return
    if not found:
        typer.echo(f"no deployments on target {target}")
        return
    rows = [("NAME", "STATE", "IMAGE", "SCORING URI")] + [
        (d.name, d.state, d.image, d.scoring_uri or "-") for d in found]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])


@_target_settings()
def invoke(
    name: str = typer.Argument(..., help="Deployment name."),
    data: Path = typer.Option(..., "--data", "-d", help="File with the request body ('-' for stdin)."),
    content_type: Optional[str] = typer.Option(None, "--content-type",
                                               help="Default: application/json if the body is JSON."),
    target: str = _TARGET,
    settings: dict[str, Any] = _SETTINGS,
) -> None:
    """POST a request to a deployment's /score with its key and print the answer."""
    if str(data) == "-":
        body = sys.stdin.buffer.read()
    elif not data.is_file():
        raise typer.BadParameter(f"{data} is not a file", param_hint="--data")
    else:
        body = data.read_bytes()
    answer = api.invoke(name, body, content_type=content_type, target=target, settings=settings)
    typer.echo(answer.text)
