#!/usr/bin/env bash
# Reproduces the off-policy experiment of experiments/README.md: half of the demo pairs get a
# chosen answer the model cannot have written (the sum plus a random 20-character remark) and
# the plain correct sum as rejected; the off-policy check before training warns, and the
# diagnosis shows what the run did. Three seeds.
# Usage: experiments/run_offpolicy.sh [BUILD_DIR] [DB]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
db="${2:-$(mktemp -d)/offpolicy.db}"
cli="$build/bin/prefstudio-cli"
python3 experiments/make_offpolicy_data.py experiments/data/arith-dpo.jsonl experiments/data/arith-offpolicy.jsonl 0
for seed in 0 1 2; do
  "$cli" --db "$db" run experiments/offpolicy-dpo.json --set "seed=$seed" --set "name=offpolicy-dpo-s$seed" 2>/dev/null | tail -1
  "$cli" --db "$db" diagnose "offpolicy-dpo-s$seed" --top 3
done
echo "store: $db"
