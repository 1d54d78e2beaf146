#!/usr/bin/env bash
# The one test command (README quick start, and .ci/run): install what the tests need, check
# style and types, run the whole suite. Extra arguments go to pytest (`-n 0`: one process).
#
# The suite runs on ASSIST_TEST_WORKERS pytest-xdist workers (default 4, on any number of
# cores; 0 = one process, one pass): most of its wall time is waiting on real-time audio, SIP
# peers and a browser, not CPU. Each test module stays on one worker, in order, with its
# module fixtures (a browser, a Redis, a floor console) made once; tests/conftest.py sends the
# longest modules first. Then the `timing` modules, without the others: two at a time
# (ASSIST_TIMING_WORKERS, default 2; 0 = one at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m ruff check .
"$PYTHON" -m ruff format --check .
"$PYTHON" -m mypy
workers="${ASSIST_TEST_WORKERS:-4}"
if [ "$workers" = 0 ]; then
  exec "$PYTHON" -m pytest "$@"
fi
# Then the modules held to wall-clock deadlines (tests/conftest.py TIMING), apart from the rest:
# beside the CPU-bound ones on 4 workers they miss their deadlines; two of them at a time share
# the 2 cores without (most of their time is real-time audio, pages and waits). Exit 5 = none
# selected (fine).
status=0
"$PYTHON" -m pytest -n "$workers" --dist loadgroup -m "not timing" "$@" || status=$?
[ "$status" = 5 ] && status=0
timing=0
timing_workers="${ASSIST_TIMING_WORKERS:-2}"
if [ "$timing_workers" = 0 ]; then
  "$PYTHON" -m pytest -m timing "$@" || timing=$?
else
  "$PYTHON" -m pytest -n "$timing_workers" --dist loadgroup -m timing "$@" || timing=$?
fi
[ "$timing" = 5 ] && timing=0
[ "$status" = 0 ] && status=$timing
exit "$status"
