#!/usr/bin/env bash
# The one test command (README quick start, and .ci/run): install what the tests need, check
# style and types, run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m ruff check .
"$PYTHON" -m mypy
"$PYTHON" -m pytest "$@"
