"""``serve(settings)``: run the runtime until SIGTERM, in one process or under a supervisor.

The listening socket is bound first, here, so a busy port fails at once with a clear message and
several workers can share one socket. With ``workers == 1`` the one worker runs in this process
(unless workers are recycled); with more, :class:`~shipyard.runtime.supervisor.Supervisor` starts
and watches them (:mod:`shipyard.runtime.worker` is what runs inside each).

Shutdown: on SIGTERM or SIGINT a worker stops accepting connections, lets in-flight requests
finish (at most ``graceful_timeout_s``), calls the scorer's ``close()`` and exits 0.
"""

from __future__ import annotations

import logging
import socket

from shipyard.errors import ModelLoadError, ServerStartError
from shipyard.runtime.settings import RuntimeSettings

logger = logging.getLogger(__name__)

BACKLOG = 2048


def bind_socket(host: str, port: int, flags: str = "--port / SHIPYARD_PORT") -> socket.socket:
    """Bind and listen, or raise :class:`ServerStartError` saying which address is taken and which
    *flags* choose another."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerStartError(
            f"cannot listen on {host}:{port}: {exc.strerror}; another process may be using the port: "
            f"stop it or choose another with {flags}"
        ) from exc
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def serve(settings: RuntimeSettings) -> None:
    """Serve the model described by *settings* until SIGTERM/SIGINT.

    With a health port (``--health-port``, or azmlinfsrv's ``SEPERATE_HEALTH_ENDPOINT=true``) the
    same routes are served on that second port too, as azmlinfsrv's gunicorn binds both.

    Raises:
        ServerStartError: the address cannot be bound.
        ModelLoadError: the model failed to load in a worker; every worker has been stopped.
    """
    from shipyard.runtime.azure_env import export_environment

    export_environment(settings)  # before any worker starts: they all inherit it
    sock = bind_socket(settings.host, settings.port)
    if settings.grpc_port is not None:  # each worker binds it (SO_REUSEPORT): only check nobody else holds it
        try:
            bind_socket(settings.host, settings.grpc_port, "--grpc-port / SHIPYARD_GRPC_PORT").close()
        except ServerStartError:
            sock.close()
            raise
    health_port = settings.resolved_health_port
    health_port = None if health_port == settings.port else health_port  # one port answers health anyway
    try:
        health_sock = (bind_socket(settings.host, health_port, "--health-port / SHIPYARD_HEALTH_PORT")
                       if health_port else None)
    except ServerStartError:
        sock.close()
        raise
    logger.info(
        "Shipyard runtime: model '%s' version %s on http://%s:%d%s, %d worker(s), %d scoring thread(s) each, "
        "scoring mode %s; model folder (AZUREML_MODEL_DIR): %s",
        settings.resolved_model_name, settings.model_version, settings.host, settings.port,
        f" (health port {health_port})" if health_port else "", settings.workers, settings.scoring_threads,
        settings.scoring_mode, settings.model_dir or "not set",
    )  # fmt: skip
    try:
        if settings.workers == 1 and not settings.recycles_workers:  # recycling needs a supervisor
            from shipyard.runtime.worker import run_worker

            run_worker(settings, sock, health_sock=health_sock)
        else:
            from shipyard.runtime.supervisor import Supervisor

            Supervisor(settings, sock, health_sock).run()
    except ModelLoadError as exc:
        raise ModelLoadError(f"{exc} (the server stopped without serving; the full traceback is above)") from exc
    finally:
        sock.close()
        if health_sock is not None:
            health_sock.close()
