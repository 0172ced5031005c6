#!/usr/bin/env bash
# Runs the whole test suite under every OpenBLAS kernel this CPU can execute, one line per kernel
# and round. Not part of CI: CI runs on whatever machine it gets with OpenBLAS's own choice; this
# script is how a developer checks that the tests assert what holds on any x86-64 machine (the
# same float32 code takes another rounding, and so another trajectory, under each kernel).
#
#   tests/portability.sh [--build DIR] [--rounds N] [--kernels "Prescott Haswell ..."] [-- CTEST ARGS]
#
# Defaults: --build build, --rounds 1, every kernel the CPU supports, ctest -j2. Logs go to
# DIR/portability/<kernel>-<round>.log. Exit status 0 when every kernel was green every round.
set -uo pipefail
cd "$(dirname "$0")/.."

build=build
rounds=1
kernels=""
ctest_args=(-j2)
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --kernels) kernels="$2"; shift 2 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "portability.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -f "$build/CTestTestfile.cmake" ] || { echo "portability.sh: no CTest build in '$build'; build first (packaging/quickstart.sh test)" >&2; exit 2; }
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "portability.sh: OPENBLAS_CORETYPE is already set ($OPENBLAS_CORETYPE); each round sets its own" >&2
fi

# The kernel families of OpenBLAS's DYNAMIC_ARCH build whose instructions this CPU has. OpenBLAS
# accepts a forced kernel the CPU cannot run (and then dies of SIGILL), hence the flag checks.
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo | awk '{print $3}')
has() { for f in "$@"; do case "$flags" in *" $f "*) ;; *) return 1 ;; esac; done; }
if [ -z "$kernels" ]; then
  has pni && kernels+=" Prescott"            # SSE3
  has sse4_2 && kernels+=" Nehalem"          # SSE4.2
  has avx && kernels+=" Sandybridge"         # AVX
  has avx2 fma && kernels+=" Haswell"        # AVX2 + FMA
  has avx2 fma && [ "$vendor" = AuthenticAMD ] && kernels+=" Zen"  # Haswell kernels, Zen blocking
  has avx512f avx512bw avx512vl avx512dq && kernels+=" SkylakeX"   # AVX-512
fi

# The kernel OpenBLAS really loads under a setting (its own name for it), through the library
# libtorch links. Empty when Python or the library is missing; the suite still runs.
corename() {
  OPENBLAS_CORETYPE="$1" /usr/bin/python3 - 2>/dev/null <<'EOF'
import ctypes
lib = ctypes.CDLL("libopenblas.so.0")
lib.openblas_get_corename.restype = ctypes.c_char_p
print(lib.openblas_get_corename().decode())
EOF
}

mkdir -p "$build/portability"
echo "portability: CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernels:$kernels, rounds $rounds, ctest ${ctest_args[*]}"
all_green=1
for round in $(seq 1 "$rounds"); do
  for k in $kernels; do
    log="$build/portability/$k-$round.log"
    loaded=$(corename "$k")
    start=$(date +%s)
    OPENBLAS_CORETYPE="$k" ctest --test-dir "$build" --output-on-failure "${ctest_args[@]}" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    summary=$(grep -E '^[0-9]+% tests passed' "$log" | tail -1)
    failed=$(sed -n '/The following tests FAILED/,$p' "$log" | grep -E '^\s+[0-9]+ - ' | awk '{print $3}' | tr '\n' ' ')
    if [ $rc -eq 0 ]; then state=green; else state=RED; all_green=0; fi
    printf 'round %s  %-12s (loaded %-11s) %-5s %4ss  %s%s  log %s\n' "$round" "$k" "${loaded:-?}" "$state" "$secs" \
      "${summary:-no ctest summary}" "${failed:+  failed: $failed}" "$log"
  done
done
[ $all_green -eq 1 ]
