#!/usr/bin/env bash
# Creates .venv if needed, installs tracekit with its dev extras, then runs lint, types and tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev,openai,anthropic,ui]"
.venv/bin/ruff check src tests benchmarks examples
.venv/bin/ruff format --check src tests benchmarks examples
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

# The oldest supported provider SDK releases, so a break at either end of the range is seen,
# with the oldest wrapt tracekit accepts (many installs still have wrapt 1.x).
if [ -z "${TRACEKIT_SKIP_COMPAT:-}" ]; then
  if [ ! -x .venv-compat/bin/python ]; then
    "$PY" -m venv .venv-compat
  fi
  .venv-compat/bin/python -m pip install --quiet --upgrade pip
  .venv-compat/bin/python -m pip install --quiet -e ".[dev]" "openai==1.66.5" "anthropic==0.43.0" "wrapt==1.16.0"
  .venv-compat/bin/python -m pytest tests/integrations "$@"
fi
