#!/usr/bin/env bash
# Reproduces experiments/README.md: DPO on the demo data (near-identical pairs: chosen "42",
# rejected "43") lets both rewards fall; the same run with an SFT term on chosen (RPO,
# objective.sft_weight = 1) keeps chosen from falling. Three seeds each, then the diagnosis.
# Usage: experiments/run_both_falling.sh [BUILD_DIR] [DB]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
db="${2:-$(mktemp -d)/both-falling.db}"
cli="$build/bin/prefstudio-cli"
for config in both-falling-dpo both-falling-rpo; do
  for seed in 0 1 2; do
    "$cli" --db "$db" run "experiments/$config.json" --set "seed=$seed" --set "name=$config-s$seed" 2>/dev/null | tail -1
    "$cli" --db "$db" diagnose "$config-s$seed"
  done
done
echo "store: $db"
