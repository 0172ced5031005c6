#!/usr/bin/env bash
# The README's two Quick-start commands:
#   quickstart.sh demo   install what is missing, build, open the studio on the built-in demo
#   quickstart.sh test   install what is missing, build, run every test through CTest
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in demo|test) ;; *) echo "usage: $0 demo|test" >&2; exit 2 ;; esac

bash packaging/install-deps.sh

BUILD_DIR="${PREFSTUDIO_BUILD_DIR:-build}"
JOBS="${PREFSTUDIO_JOBS:-$(nproc)}"
oracle_args=()
# The Hugging Face oracle tests use this venv's Python when given (packaging/make-venv.sh).
[ -n "${PREFSTUDIO_ORACLE_PYTHON:-}" ] && oracle_args=(-DPREFSTUDIO_ORACLE_PYTHON="$PREFSTUDIO_ORACLE_PYTHON")
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${oracle_args[@]}"
cmake --build "$BUILD_DIR" -j "$JOBS"

if [ "$mode" = test ]; then
  # Suites run side by side (each sets OMP_NUM_THREADS=1); tests/portability.sh checks them so.
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
else
  if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "quickstart: no display (DISPLAY/WAYLAND_DISPLAY unset); starting the studio under xvfb-run," \
         "use a desktop session to see it" >&2
    exec xvfb-run -a -s "-screen 0 1600x1000x24" "$BUILD_DIR/bin/prefstudio" --demo
  fi
  exec "$BUILD_DIR/bin/prefstudio" --demo
fi
