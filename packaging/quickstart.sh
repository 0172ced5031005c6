#!/usr/bin/env bash
# The README's Quick-start commands, and the second build (README "Which build"):
#   quickstart.sh demo        install what is missing, build, open the studio on the built-in demo
#   quickstart.sh test        install what is missing, build, run every test through CTest
#   quickstart.sh wheel-demo  the same two against PyPI's torch 2.x wheel (CUDA build) in a venv
#   quickstart.sh wheel-test  in a venv (build-wheel/venv, or PREFSTUDIO_VENV), with the CUDA toolkit
# Debian's libtorch 1.13 (CPU) builds in build/, the wheel in build-wheel/; PREFSTUDIO_BUILD_DIR
# overrides either. The wheel's venv is <build>/venv unless PREFSTUDIO_VENV names another (CI makes
# one venv for both builds: the oracle venv has the same pinned torch, packaging/make-venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
case "$mode" in demo|test|wheel-demo|wheel-test) ;; *) echo "usage: $0 demo|test|wheel-demo|wheel-test" >&2; exit 2 ;; esac

bash packaging/install-deps.sh

JOBS="${PREFSTUDIO_JOBS:-$(nproc)}"
cmake_args=()
if [[ "$mode" == wheel-* ]]; then
  BUILD_DIR="${PREFSTUDIO_BUILD_DIR:-build-wheel}"
  # The pinned torch wheel (packaging/torch-requirements.txt) and the test oracles, in the build
  # folder or PREFSTUDIO_VENV; made once, then reused.
  VENV="${PREFSTUDIO_VENV:-$BUILD_DIR/venv}"
  [[ "$VENV" = /* ]] || VENV="$PWD/$VENV"
  bash packaging/make-venv.sh "$VENV"
  venv_python="$VENV/bin/python3"
  torch_cmake="$("$venv_python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  # torch's CMake config wants the CUDA toolkit its wheel was built with (nvcc, cudart, nvrtc).
  cuda_home="${CUDA_HOME:-/usr/local/cuda}"
  if [ ! -x "$cuda_home/bin/nvcc" ]; then
    echo "quickstart: the torch wheel's build needs the CUDA toolkit (nvcc) at $cuda_home;" \
         "set CUDA_HOME, or use 'quickstart.sh test' (Debian's CPU libtorch)" >&2
    exit 1
  fi
  # We compile no CUDA code: one architecture keeps torch's CMake from probing for GPUs.
  cmake_args+=(-DCMAKE_PREFIX_PATH="$torch_cmake" -DCUDAToolkit_ROOT="$cuda_home"
               -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc" -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}")
  : "${PREFSTUDIO_ORACLE_PYTHON:=$venv_python}"
  mode="${mode#wheel-}"
else
  BUILD_DIR="${PREFSTUDIO_BUILD_DIR:-build}"
fi
# The Hugging Face oracle tests use this venv's Python when given (packaging/make-venv.sh), and
# LLaMA-Factory's parser from a --no-deps install beside it (packaging/make-llamafactory-site.sh).
if [ -n "${PREFSTUDIO_ORACLE_PYTHON:-}" ]; then
  lf_site="${PREFSTUDIO_LLAMAFACTORY_SITE:-$BUILD_DIR/llamafactory-site}"
  [[ "$lf_site" = /* ]] || lf_site="$PWD/$lf_site"
  bash packaging/make-llamafactory-site.sh "$lf_site" "$PREFSTUDIO_ORACLE_PYTHON"
  cmake_args+=(-DPREFSTUDIO_ORACLE_PYTHON="$PREFSTUDIO_ORACLE_PYTHON" -DPREFSTUDIO_LLAMAFACTORY_SITE="$lf_site")
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}"
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
