#!/usr/bin/env bash
# Run Shipyard's whole test suite on this machine, installing what it needs first.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k runtime`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-host.sh
# The PyTorch scorer's tests need torch; the CPU build is enough (pin it: an unpinned torch pulls CUDA).
python3 -c "import torch" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'torch==2.13.0' \
    || echo "test: torch==2.13.0 could not be installed; the PyTorch scorer tests will be skipped"
exec python3 -m pytest "$@"
