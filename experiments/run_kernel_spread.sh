#!/usr/bin/env bash
# The both-falling experiment (plain DPO and the RPO remedy, seeds 0-2) under every OpenBLAS kernel
# this CPU can run: how far the numbers of experiments/README.md move with the BLAS kernel's
# rounding. Prints one markdown table row per kernel, config and seed.
# Usage: experiments/run_kernel_spread.sh [BUILD_DIR] [KERNELS]   (KERNELS: "Prescott Haswell ...")
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
cli="$build/bin/prefstudio-cli"
kernels="${2:-}"
if [ -z "$kernels" ]; then
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  has() { for f in "$@"; do case "$flags" in *" $f "*) ;; *) return 1 ;; esac; done; }
  has pni && kernels+=" Prescott"
  has sse4_2 && kernels+=" Nehalem"
  has avx && kernels+=" Sandybridge"
  has avx2 fma && kernels+=" Haswell"
  has avx2 fma && grep -q AuthenticAMD /proc/cpuinfo && kernels+=" Zen"
  has avx512f avx512bw avx512vl avx512dq && kernels+=" SkylakeX"
fi
work=$(mktemp -d)
echo "| kernel | run | seed | final rewards/chosen | final rewards/rejected | final eval/rewards chosen / rejected | eval accuracy | tracked pairs whose chosen fell | steps both falling | dominant problem | final regime |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for k in $kernels; do
  db="$work/$k.db"
  for config in both-falling-dpo both-falling-rpo; do
    for seed in 0 1 2; do
      name="$config-s$seed"
      OPENBLAS_CORETYPE="$k" "$cli" --db "$db" run "experiments/$config.json" --set "seed=$seed" --set "name=$name" >/dev/null 2>&1
      "$cli" --db "$db" diagnose "$name" --json >"$work/d.json"
      "$cli" --db "$db" export "$name" --format json >"$work/e.json"
      /usr/bin/python3 - "$k" "$config" "$seed" "$work/d.json" "$work/e.json" <<'EOF'
import json, sys
k, config, seed, dpath, epath = sys.argv[1:]
d = json.load(open(dpath)); e = json.load(open(epath))
metrics = e["metrics"]
def last(name):
    vals = [v for v in metrics.get(name, {}).get("value", []) if v is not None]
    return vals[-1] if vals else float("nan")
pt = d["pair_tracking"]
print(f"| {k} | {config.replace('both-falling-', '')} | {seed} | {last('rewards/chosen'):+.3f} | {last('rewards/rejected'):+.3f} | "
      f"{last('eval/rewards/chosen'):+.3f} / {last('eval/rewards/rejected'):+.3f} | {last('eval/rewards/accuracies'):.3f} | {pt['chosen_fell']} of {pt['tracked']} | "
      f"{d['problem_steps'].get('both_falling', 0)} | {d['dominant_problem'] or '-'} | {d['final_regime']} |")
EOF
    done
  done
done
rm -rf "$work"
