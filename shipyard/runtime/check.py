"""``python -m shipyard.runtime.check``: load the model as a worker does, then exit.

``shipyard build-image`` runs this in the image it has just built (as Cog validates its predictor
at build time): the entry script is imported and its ``init()`` runs against the model in the
image, with the image's own settings (``SHIPYARD_*`` variables). An environment that installs but
cannot import (numpy 2 under an old scikit-learn, ``from sklearn.externals import joblib``) then
fails the build, not the deployment.

Exit status: 0 when the model loaded; the runtime's own codes otherwise (3: the model failed to
load, with the script's traceback on stderr; 8: an invalid setting). The process ends with
``os._exit`` so threads an ``init()`` started cannot keep the check from finishing.
"""

from __future__ import annotations

import os
import sys
import traceback

from shipyard.errors import ShipyardError

#: Printed on success; the builder looks for it to tell a passed check from one that exited 0 early.
OK_MARKER = "shipyard-check: ok"


def main() -> int:
    """Load the model once; report how that went on stdout/stderr and as the exit status."""
    from shipyard.runtime.dataplane import model_info
    from shipyard.runtime.logconfig import configure_logging
    from shipyard.runtime.settings import load_settings
    from shipyard.scoring import load_scorer

    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        info = model_info(settings)
        scorer = load_scorer(info)
    except ShipyardError as exc:
        if exc.__cause__ is not None:  # the script's own traceback: where it failed and why
            traceback.print_exception(exc.__cause__, file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    print(f"{OK_MARKER}: model {info.name} {info.version} loaded by {type(scorer).__name__}", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
