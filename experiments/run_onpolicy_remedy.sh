#!/usr/bin/env bash
# The on-policy remedy for both rewards falling: for seeds 0, 1, 2, sample the rejected answers
# of the demo data from the reference model of both-falling-dpo.json (after its SFT warm-up,
# the same seed), train the same DPO run on that data, and print the diagnosis.
# Usage: experiments/run_onpolicy_remedy.sh [BUILD_DIR] [DB]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
db="${2:-$(mktemp -d)/onpolicy-remedy.db}"
cli="$build/bin/prefstudio-cli"
for seed in 0 1 2; do
  data="experiments/data/arith-onpolicy-s$seed.jsonl"
  "$cli" make-data onpolicy --config experiments/both-falling-dpo.json --set "seed=$seed" --seed "$seed" --out "$data" 2>/dev/null
  "$cli" --db "$db" run experiments/both-falling-dpo.json --set "seed=$seed" --set "name=both-falling-onpolicy-s$seed" \
    --set "data.train=$data" 2>/dev/null | tail -1
  "$cli" --db "$db" diagnose "both-falling-onpolicy-s$seed"
done
echo "store: $db"
