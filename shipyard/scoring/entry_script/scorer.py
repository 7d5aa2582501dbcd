"""Serve an Azure ML style ``score.py`` (``init()`` + ``run(data)``) unchanged.

Loading follows azmlinfsrv: export ``AZUREML_MODEL_DIR``/``AML_APP_ROOT``/``AZUREML_ENTRY_SCRIPT``,
import the script by path, call ``init()`` once, and inspect ``run()`` once to pick how requests
reach it. The per-request path is then: parse (one pre-chosen callable) → ``run(**kwargs)`` →
encode. Exceptions raised by ``run()`` are not caught here: the runtime answers them with a 500
and logs the traceback, while client mistakes surface as
:class:`~shipyard.errors.BadRequestError`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from shipyard.errors import ModelLoadError
from shipyard.scoring.base import (
    BatchingScorer,
    BatchItem,
    InferRequest,
    InferResponse,
    ModelInfo,
    ModelMetadata,
    ScoreRequest,
    ScoreResponse,
)
from shipyard.scoring.entry_script import loader, schema, signature
from shipyard.scoring.entry_script.headers import script_headers
from shipyard.scoring.entry_script.outputs import to_score_response
from shipyard.scoring.entry_script.signature import RunPlan

logger = logging.getLogger(__name__)

PLATFORM = "azureml_entry_script"


class EntryScriptScorer(BatchingScorer):
    """One ``score.py``. Thread-safe as far as the script's own ``run()`` is."""

    def __init__(self, info: ModelInfo) -> None:
        super().__init__(info)
        if info.entry_script is None:
            raise ModelLoadError("EntryScriptScorer needs ModelInfo.entry_script (the path of score.py)")
        self.script = Path(info.entry_script).resolve()
        self.model_dir = Path(info.model_dir).resolve()
        self.module: ModuleType | None = None
        self.plan: RunPlan | None = None
        self._run: Callable[..., Any] | None = None
        self._invoke: Callable[..., Any] | None = None  # run, or run behind the schema-error guard
        self._lock = threading.Lock()
        self._v2: Any = None  # V2Adapter, made on the first infer()
        self._swaggers: dict[str, dict[str, Any] | None] = {}

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> None:
        """Import the script and call ``init()`` once; later calls do nothing."""
        with self._lock:
            if self._run is not None:
                return
            exported = self.info.azureml_model_dir
            loader.prepare_environment(self.script, self.model_dir if exported is None else exported)
            signature.reset_rawhttp_flags()
            module = loader.import_script(self.script, self.info.named("entry_script"))
            raw = signature.rawhttp_requested()
            init, run = self._functions(module)
            self.plan = signature.analyse_run(run, self.script, raw)
            loader.call_init(init, self.script)
            self._invoke = schema.guard(run) if self.plan.mode == "schema" else run
            self.module, self._run = module, run
            self.app_root = Path(os.environ.get("AML_APP_ROOT", self.script.parent))
        logger.info("Serving %s: run() receives %s", self.script, _MODE_TEXT[self.plan.mode])

    def _functions(self, module: ModuleType) -> tuple[Callable[[], Any], Callable[..., Any]]:
        """``init`` and ``run``, looking through an Azure-generated driver module like azmlinfsrv."""
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise ModelLoadError(
                    f"{self.script.name} defines no {name}() function; an entry script needs "
                    "def init(): (load the model) and def run(data): (score one request)"
                )
        run = module.run
        driver = getattr(module, "driver_module", None)
        if isinstance(driver, ModuleType) and callable(getattr(driver, "run", None)):
            logger.info("%s is a driver script; calling run() of %s directly", self.script, driver.__file__)
            run = driver.run
        return module.init, run

    # -- requests --------------------------------------------------------------------------------
    def score(self, request: ScoreRequest) -> ScoreResponse:
        """Call ``run()`` with the request as the script expects it and encode what it returns."""
        invoke, plan = self._invoke, self.plan
        if invoke is None or plan is None:
            self._require_loaded()
        arguments = plan.parse(request)
        if plan.wants_headers:
            arguments[signature.HEADERS_PARAMETER] = script_headers(request.headers)
        return to_score_response(invoke(**arguments))

    def invoke(self, arguments: dict[str, Any]) -> Any:
        """Call ``run(**arguments)``; its exceptions propagate (inference-schema rejections become 400)."""
        self._require_loaded()
        return self._invoke(**arguments)

    def infer(self, request: InferRequest) -> InferResponse:
        """Answer a V2 request by calling ``run()``; see :mod:`shipyard.scoring.entry_script.v2`."""
        adapter = self._v2
        if adapter is None:
            from shipyard.scoring.entry_script.v2 import V2Adapter

            run, plan = self._require_loaded()
            adapter = self._v2 = V2Adapter(self, run, plan)
        return adapter.infer(request)

    # -- opt-in batching: a module-level run_batch(list of bodies) -> list of results ----------------
    def batching_unsupported(self) -> str | None:
        if not callable(getattr(self.module, "run_batch", None)):
            return f"{self.script.name} defines no run_batch(data_list); run() answers each request"
        if self.plan is None or self.plan.mode != "string":
            return (f"run_batch() receives the request bodies as str, but run() in {self.script.name} is "
                    "decorated with @input_schema or @rawhttp")
        return None

    def prepare_score(self, request: ScoreRequest) -> BatchItem:
        """The body as ``run(data)`` would get it; every request batches with every other."""
        plan = self.plan
        if plan is None:
            self._require_loaded()
        return BatchItem(plan.parse(request)[plan.parse.name], 1, "")  # type: ignore[union-attr]

    def prepare_infer(self, request: InferRequest) -> None:
        return None  # V2 requests reach run() one by one (see shipyard.scoring.entry_script.v2)

    def run_batch(self, items: list[BatchItem]) -> list[Any]:
        """``run_batch([data, ...])``: one result (or exception instance) per body, in order."""
        results = self.module.run_batch([item.inputs for item in items])  # type: ignore[union-attr]
        if not isinstance(results, (list, tuple)):
            raise TypeError(f"run_batch() in {self.script.name} returned a {type(results).__name__}; "
                            "it must return a list with one result per input")
        return list(results)

    def answer_score(self, request: ScoreRequest, result: Any) -> ScoreResponse:
        return to_score_response(result)

    def answer_infer(self, request: InferRequest, result: Any) -> InferResponse:
        raise NotImplementedError("V2 requests to an entry script are not batched")

    def metadata(self) -> ModelMetadata:
        """Name, version, and, when ``run`` has ``@input_schema`` numpy samples, their tensor specs."""
        inputs: tuple = ()
        outputs: tuple = ()
        if self.plan is not None and self.plan.mode == "schema" and self._run is not None:
            inputs, outputs = schema.tensor_specs(self._run)
        return ModelMetadata(
            name=self.info.name,
            versions=(self.info.version,),
            platform=PLATFORM,
            inputs=inputs,
            outputs=outputs,
            extra={"entry_script": str(self.script), "run_input": self.plan.mode if self.plan else None},
        )

    def swagger(self, version: str = "2") -> dict[str, Any] | None:
        """The ``/swagger.json`` document azmlinfsrv would serve for this script (cached per version)."""
        from shipyard.scoring.entry_script.swagger import build_swagger, canonical_version

        run, _ = self._require_loaded()
        key = canonical_version(version)
        if key not in self._swaggers:
            self._swaggers[key] = build_swagger(key, run, self.app_root, self.info)
        return self._swaggers[key]

    def _require_loaded(self) -> tuple[Callable[..., Any], RunPlan]:
        run, plan = self._run, self.plan
        if run is None or plan is None:
            raise ModelLoadError(f"{self.script.name} is not loaded yet; call load() first")
        return run, plan


_MODE_TEXT = {
    "string": "the request body as str",
    "schema": "the JSON body's keys as arguments (@input_schema)",
    "raw": "the raw request (@rawhttp AMLRequest)",
}
