#!/usr/bin/env bash
# The one test command (README quick start, and .ci/run): install what the tests need, check
# style and types, run the whole suite. Extra arguments go to pytest (`-n 0`: one process).
#
# The suite runs on ASSIST_TEST_WORKERS pytest-xdist workers (default 4, on any number of
# cores): most of its wall time is waiting on real-time audio, SIP peers and a browser, not
# CPU. Each test module stays on one worker, in order, with its module fixtures (a browser, a
# Redis, a floor console) made once; tests/conftest.py sends the longest modules first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m ruff check .
"$PYTHON" -m mypy
"$PYTHON" -m pytest -n "${ASSIST_TEST_WORKERS:-4}" --dist loadgroup "$@"
