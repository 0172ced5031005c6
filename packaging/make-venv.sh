#!/usr/bin/env bash
# make-venv.sh DIR: a venv at DIR with the pinned torch wheel (packaging/torch-requirements.txt)
# and the test oracles (tests/oracles/requirements.txt), from Debian's Python 3.11. Idempotent:
# DIR/.requirements-stamp records the requirement files it was made from; pip's cache is kept
# (~/.cache/pip), so a second machine state downloads nothing.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: make-venv.sh DIR}"
reqs=("$src/packaging/torch-requirements.txt" "$src/tests/oracles/requirements.txt")
stamp="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [ -x "$dir/bin/python3" ] && [ "$(cat "$dir/.requirements-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "make-venv: $dir is up to date"
  exit 0
fi
if ! /usr/bin/python3 -m venv --help >/dev/null 2>&1 || ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
  echo "make-venv: Debian's python3-venv is missing (bash packaging/install-deps.sh installs it)" >&2
  exit 1
fi
start=$(date +%s)
/usr/bin/python3 -m venv "$dir"
"$dir/bin/python3" -m pip install -q --upgrade pip
"$dir/bin/python3" -m pip install -q -r "$src/tests/oracles/requirements.txt"
echo "$stamp" > "$dir/.requirements-stamp"
echo "make-venv: $dir made in $(( $(date +%s) - start )) s ($(du -sh "$dir" | cut -f1))"
