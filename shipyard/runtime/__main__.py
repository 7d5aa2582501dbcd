"""``python -m shipyard.runtime``: how built images start the runtime.

Everything comes from the environment (see :class:`~shipyard.runtime.settings.RuntimeSettings`):
``SHIPYARD_MODEL_DIR``, ``SHIPYARD_ENTRY_SCRIPT``, ``SHIPYARD_PORT``, ``SHIPYARD_WORKERS``...
Imports only the runtime's own dependencies (no typer, docker or jinja2), so images stay small.
Exit status: 0 after a graceful stop, 3 when the model failed to load, 8 when the server could
not start (port taken, invalid setting).
"""

from __future__ import annotations

import sys

from shipyard.errors import ShipyardError


def main() -> int:
    from shipyard.runtime.logconfig import configure_logging
    from shipyard.runtime.server import serve
    from shipyard.runtime.settings import load_settings

    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        serve(settings)
    except ShipyardError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
