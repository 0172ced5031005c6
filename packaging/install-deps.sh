#!/usr/bin/env bash
# Installs the Debian 12 packages PrefStudio builds and runs with, only those missing.
# Idempotent and non-interactive; run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache
  # core: libtorch (+ a fast BLAS: without it matmuls fall back to reference BLAS, ~30x slower)
  libtorch-dev libopenblas0-pthread nlohmann-json3-dev libsqlite3-dev libcli11-dev
  # Hugging Face tokenizers: PCRE2 (pre-tokenizer regexes with \p{L}, JIT) and utf8proc (NFC)
  libpcre2-dev libutf8proc-dev
  # importing runs: TensorBoard events (protobuf, our own .proto; Boost.CRC's CRC32C);
  # LLaMA-Factory's YAML files and the cluster exports (TRL / LLaMA-Factory YAML)
  protobuf-compiler libprotobuf-dev libboost-dev libyaml-cpp-dev
  # studio: Qt 6 Widgets/PrintSupport/Concurrent/Test and QCustomPlot
  qt6-base-dev qt6-svg-dev libqcustomplot-dev libgl-dev
  # headless GUI tests and screenshots
  xvfb xauth
  # independent references in tests and benchmarks: plain PyTorch (Debian's, the same 1.13)
  python3-numpy python3-torch
  # the cluster exports read back as TRL and LLaMA-Factory read them (PyYAML)
  python3-yaml
  # venvs for the torch-wheel build and the Hugging Face test oracles (packaging/make-venv.sh)
  python3-venv
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  SUDO="sudo"
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
