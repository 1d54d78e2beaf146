#!/usr/bin/env bash
# Drift check, run on purpose (not by CI): a new venv with the NEWEST release of every
# dependency that pyproject.toml's ranges admit (not the lock), then the whole test command.
# What differs from requirements.lock is printed first. Green: scripts/lock.sh can move the
# lock forward. Red: a release broke us; fix it (or bound the range) before a user meets it.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${ASSIST_NEWEST_VENV:-$(mktemp -d)/venv}"
python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
export PYTHON=python ASSIST_NEWEST=1
./scripts/install-test-deps.sh
echo "newer than requirements.lock:"
python -m pip freeze --exclude-editable | tr 'A-Z_' 'a-z-' | sort >"$venv/newest.txt"
grep -v '^#' requirements.lock | tr 'A-Z_' 'a-z-' | sort | comm -13 - "$venv/newest.txt" | sed 's/^/  /'
python -m ruff check .
python -m mypy
python -m pytest "$@"
