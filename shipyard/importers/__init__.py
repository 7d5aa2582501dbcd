"""``shipyard import``: Azure ML deployment files in, ``shipyard.yaml`` + ``deployment.yaml`` out.

Each source file is recognised by its content (an ``entryScript`` makes an inference config, a
``computeType`` a deployment config...), read field by field through
:class:`~shipyard.importers.report.SourceFile`, and every field ends up in the report: mapped to a
Shipyard setting, not applicable (and why), or unknown. Use::

    from shipyard.importers import import_files

    report = import_files(["inferenceconfig.json", "deploymentconfig.json"], "out", models=["model.pkl"])
    for row in report.rows:
        print(row.field, row.status, row.to, row.why)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard.builder._yaml import load_yaml
from shipyard.errors import SpecError
from shipyard.importers import azure_v1, azure_v2
from shipyard.importers.plan import ImportPlan, safe_name, write_plan
from shipyard.importers.report import FieldOutcome, ImportReport, SourceFile

__all__ = ["FieldOutcome", "ImportReport", "detect_kind", "import_files"]

Importer = Callable[[SourceFile, ImportPlan], None]
KINDS: dict[str, Importer] = {
    "azure-v1-inference-config": azure_v1.import_inference_config,
    "azure-v1-deployment-config": azure_v1.import_deployment_config,
    "azure-v2-online-endpoint": azure_v2.import_online_endpoint,
    "azure-v2-online-deployment": azure_v2.import_online_deployment,
}
_SPEC_KINDS = ("azure-v1-inference-config", "azure-v2-online-deployment")
# Order matters: a spec needs its entry script and environment before deploy settings refer to them.
_ORDER = list(KINDS)


def _read(path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecError("file not found", file=str(path)) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SpecError(f"not valid JSON: {exc}", file=str(path)) from None
    else:
        data, _ = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError("expected an object (a JSON object or a YAML mapping) at the top", file=str(path))
    return data


def detect_kind(data: dict[str, Any]) -> str | None:
    """Which kind of source *data* is, from the fields only that kind has; ``None`` if unknown."""
    if "entryScript" in data:
        return "azure-v1-inference-config"
    if "computeType" in data:
        return "azure-v1-deployment-config"
    schema = str(data.get("$schema", "")).lower()
    if "onlinedeployment" in schema or {"endpoint_name", "code_configuration", "instance_type"} & set(data):
        return "azure-v2-online-deployment"
    if "onlineendpoint" in schema or "auth_mode" in data:
        return "azure-v2-online-endpoint"
    return None


def import_files(paths: Sequence[str | Path], output: str | Path, *, models: Sequence[str] = (),
                 name: str | None = None, registry: str | None = None) -> ImportReport:
    """Read Azure ML deployment files and write ``shipyard.yaml`` and ``deployment.yaml`` to *output*.

    Args:
        paths: the source files (any order): v1 ``inferenceconfig.json`` / ``deploymentconfig.json``,
            or a v2 online deployment YAML with (optionally) its endpoint YAML.
        output: folder to write into; sources the spec needs are copied there.
        models: model files or folders (v1 configs name none: Azure passed them to ``Model.deploy``);
            they replace the model a v2 deployment names.
        name: service name; default: the v2 endpoint's name, else the output folder's name.
        registry: the model registry that ``NAME:VERSION`` / ``azureml:NAME:VERSION`` references are
            fetched from (see :func:`shipyard.model_registry.open_registry`; default: the local store).

    Returns:
        The report: a row for every field of every source, and the files written.

    Raises:
        SpecError: a file is unreadable or of no known kind, a referenced file is missing, or the
            resulting spec is invalid (the message names the file and field).
    """
    sources = []
    for raw in paths:
        path = Path(raw)
        data = _read(path)
        kind = detect_kind(data)
        if kind is None:
            raise SpecError("not a file 'shipyard import' knows: expected an Azure ML v1 inferenceconfig.json "
                            "(with entryScript) or deploymentconfig.json (with computeType), or a v2 online "
                            "deployment (endpoint_name, code_configuration...) or endpoint (auth_mode) YAML",
                            file=str(path))
        sources.append(SourceFile(path=path, data=data, kind=kind))
    kinds = [source.kind for source in sources]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            raise SpecError(f"more than one {kind} given; import one service at a time")
    if "azure-v1-inference-config" in kinds and "azure-v2-online-deployment" in kinds:
        raise SpecError("give either Azure ML v1 files or v2 files, not both")
    output = Path(output)
    plan = ImportPlan()
    for source in sorted(sources, key=lambda source: _ORDER.index(source.kind)):
        KINDS[source.kind](source, plan)
    plan.name = safe_name(name or plan.name_hint or output.resolve().name)
    report = ImportReport()
    with tempfile.TemporaryDirectory(prefix="shipyard-import-") as staging:
        if any(kind in _SPEC_KINDS for kind in kinds):
            _add_models(plan, models, registry, Path(staging))
            plan.spec = {"name": plan.name, **plan.spec}
        elif models:
            raise SpecError("--model needs an inference config or a v2 online deployment to build a spec from")
        for source in sources:
            report.rows += source.finish()
        if plan.spec:
            _check_spec(plan, output)
        report.written = write_plan(plan, output)
    report.notes = list(plan.notes)
    if plan.spec:
        from shipyard.builder.spec import load_spec
        load_spec(output)  # what was written must load; a failure here is a bug worth a clear error
    return report


def _add_models(plan: ImportPlan, models: Sequence[str], registry: str | None, staging: Path) -> None:
    """The spec's ``models``: files as given, registry references as ``{name, version, path}``.

    ``--model`` values replace what the sources name; a v1 inference config names none. A model
    from the registry keeps its registered name and version, so the image lays it out as
    ``azureml-models/<name>/<version>/`` and ``Model.get_model_path(name, version)`` finds it.
    """
    paths = list(plan.model_paths)
    refs = list(plan.model_refs)
    if models:
        paths, refs = [], []
        for model in models:
            path = Path(model)
            if path.exists():
                paths.append(path.resolve())
            else:
                refs.append(model)
    entries: list[Any] = [plan.copy(path, f"models/{path.name}") for path in paths]
    if refs:
        from shipyard.errors import RegistryError
        from shipyard.model_registry import open_registry, parse_reference

        store = open_registry(registry)
        for ref in refs:
            try:
                model_name, version = parse_reference(ref)
                found = store.show(model_name, version)
                folder = f"{found.name}/{found.version}"
                local = store.download(found.name, found.version, staging / folder)
            except RegistryError as exc:
                raise SpecError(f"model '{ref}': {exc} (register it with 'shipyard model register', or give "
                                "its files with --model PATH)", field="models") from exc
            entries.append({"name": found.name, "version": found.version,
                            "path": plan.copy(local, f"models/{folder}/{local.name}")})
    if not entries:
        raise SpecError("give the model with --model PATH (an inference config names none: Azure passed "
                        "models to Model.deploy / 'az ml model deploy -m')", field="models")
    plan.spec["models"] = entries


def _check_spec(plan: ImportPlan, output: Path) -> None:
    """Validate the spec's values (not its files, which are not copied yet) before writing anything."""
    from pydantic import ValidationError

    from shipyard.builder.spec import DeploymentSpec
    try:
        DeploymentSpec.model_validate(plan.spec)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SpecError(f"the imported settings do not make a valid shipyard.yaml: {problems}") from None
