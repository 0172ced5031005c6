#!/usr/bin/env bash
# run_oracle.sh MODULES SCRIPT [ARGS...]: runs a Python oracle script with the oracle venv's
# Python (PREFSTUDIO_ORACLE_PYTHON). MODULES is a comma-separated import list checked first.
# Missing oracle: exit 77 (CTest's SKIP_RETURN_CODE) with the reason, or 1 under CI=true.
set -uo pipefail
modules="$1"; shift
py="${PREFSTUDIO_ORACLE_PYTHON:-}"
why=""
if [ -z "$py" ]; then
  why="no oracle venv configured (PREFSTUDIO_ORACLE_PYTHON is empty; make one with 'bash packaging/make-venv.sh build/venv' and re-run cmake)"
elif ! err=$("$py" -c "import $modules" 2>&1); then
  why="the oracle venv $py cannot import $modules: ${err: -400}"
fi
if [ -n "$why" ]; then
  case "${CI:-}" in true|TRUE|True|1) echo "FAIL (oracle missing under CI): $why" >&2; exit 1 ;; esac
  echo "SKIP: $why" >&2
  exit 77
fi
exec "$py" "$@"
