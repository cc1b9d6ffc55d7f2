#!/usr/bin/env bash
# Creates .venv if needed, installs tracekit, then runs the demo (no API key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[openai,anthropic,ui]"
exec .venv/bin/python examples/demo.py "$@"
