"""The process environment azmlinfsrv 1.5.1 gives a scoring script, set once before the model loads.

Scripts read these variables (``AZUREML_MODEL_DIR`` most of all, some ``SERVER_PORT`` or
``AML_APP_INSIGHTS_ENABLED``), so a script moved from an Azure ML image must find the same values.
They follow ``azureml_inference_server_http.amlserver.merge_configuration`` and
``validate_environment_variables``:

- ``AZUREML_MODEL_DIR``: the model folder exactly as given (a relative path stays relative), and
  unset when none was given. Scripts that fall back with ``os.getenv("AZUREML_MODEL_DIR", ...)``
  keep working.
- ``AML_APP_ROOT``: kept when set, else the app root setting, else the working directory.
- ``SERVER_PORT``: the port served. azmlinfsrv never *reads* it (only ``--port``); neither does
  Shipyard, and a value set beforehand is overwritten, with a warning naming ``--port``.
- ``HEALTH_PORT``: the separate health port when there is one, else the main port.
- ``WORKER_COUNT``: the number of workers. ``TRANSPORT_PROTOCOL``: ``grpc`` (azmlinfsrv's value
  without its hidden ``--rest``).
- ``AML_APP_INSIGHTS_ENABLED``: ``true`` only when it was ``true`` and ``AML_APP_INSIGHTS_KEY`` is
  a UUID, else ``false``. (Shipyard sends nothing to Application Insights; it says so in the log.)
- ``HTTP_X_MS_SERVER_VERSION``: the ``x-ms-server-version`` value, unless
  ``SERVER_VERSION_LOG_RESPONSE_ENABLED`` turns it off.

Set in the server process before any worker starts, so every worker (spawned or not) inherits them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import MutableMapping

from shipyard.runtime.settings import RuntimeSettings

logger = logging.getLogger(__name__)

DATA_COLLECTION_VARIABLE = "SHIPYARD_DATA_COLLECTION_DIR"  # read by scoring.entry_script.data_collector
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z", re.I)


def export_environment(settings: RuntimeSettings, environ: MutableMapping[str, str] | None = None) -> None:
    """Set the azmlinfsrv variables in *environ* (default ``os.environ``) for *settings*."""
    from shipyard import __version__

    env = os.environ if environ is None else environ
    if settings.model_dir:
        env["AZUREML_MODEL_DIR"] = settings.model_dir
    if "AML_APP_ROOT" not in env:
        env["AML_APP_ROOT"] = str(settings.app_root) if settings.app_root is not None else os.getcwd()
    env["TRANSPORT_PROTOCOL"] = "grpc"
    env["WORKER_COUNT"] = str(settings.workers)
    given_port = env.get("SERVER_PORT")
    if given_port is not None and given_port != str(settings.port):
        logger.warning("SERVER_PORT=%s is ignored, as azmlinfsrv 1.5.1 ignores it: serving on port %d; choose the "
                       "port with --port or SHIPYARD_PORT", given_port, settings.port)
    env["SERVER_PORT"] = str(settings.port)
    health_port = settings.resolved_health_port
    env["HEALTH_PORT"] = str(health_port if health_port is not None else settings.port)
    enabled = env.get("SERVER_VERSION_LOG_RESPONSE_ENABLED")
    if enabled is None or enabled.lower() == "true":
        env["HTTP_X_MS_SERVER_VERSION"] = f"shipyard/{__version__}"
    env["AML_APP_INSIGHTS_ENABLED"] = _app_insights_enabled(env)
    if env["AML_APP_INSIGHTS_ENABLED"] == "true":
        logger.warning("AML_APP_INSIGHTS_ENABLED is true, but Shipyard sends nothing to Application Insights; "
                       "collect its stdout log and /metrics instead")
    if settings.data_collection_dir is not None:
        env[DATA_COLLECTION_VARIABLE] = str(settings.data_collection_dir)


def _app_insights_enabled(env: MutableMapping[str, str]) -> str:
    """azmlinfsrv's rule: ``true`` needs ``AML_APP_INSIGHTS_ENABLED=true`` and a UUID ``AML_APP_INSIGHTS_KEY``."""
    if env.get("AML_APP_INSIGHTS_ENABLED") == "true" and _UUID.match(env.get("AML_APP_INSIGHTS_KEY", "")):
        return "true"
    return "false"
