#!/usr/bin/env bash
# make-llamafactory-site.sh DIR PYTHON: LLaMA-Factory and the few packages its argument parser
# needs beyond the oracle venv (tests/oracles/llamafactory-requirements.txt, why --no-deps there),
# installed with PYTHON's pip into DIR for PYTHONPATH. Idempotent: DIR/.requirements-stamp.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: make-llamafactory-site.sh DIR PYTHON}"
py="${2:?usage: make-llamafactory-site.sh DIR PYTHON}"
req="$src/tests/oracles/llamafactory-requirements.txt"
stamp="$(sha256sum < "$req" | cut -d' ' -f1)"
if [ "$(cat "$dir/.requirements-stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "make-llamafactory-site: $dir is up to date"
  exit 0
fi
start=$(date +%s)
rm -rf "$dir"
"$py" -m pip install -q --no-deps --target "$dir" -r "$req"
echo "$stamp" > "$dir/.requirements-stamp"
echo "make-llamafactory-site: $dir made in $(( $(date +%s) - start )) s ($(du -sh "$dir" | cut -f1))"
