#!/usr/bin/env bash
# Regenerates the README screenshot: the studio trains the demo under Xvfb and saves its
# window when the run ends. Usage: tests/ui/make_screenshots.sh [BUILD_DIR] (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
db="$(mktemp -d)/screenshots.db"
xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$build/bin/prefstudio" --demo --db "$db" --autorun --quit-when-done --screenshot docs/screenshot-demo.png
echo "wrote docs/screenshot-demo.png"
# The Samples tab after the demo run: its first eval prompts answered before and after training.
db2="$(mktemp -d)/samples.db"
xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$build/bin/prefstudio" --demo --db "$db2" --autorun --samples-screenshot docs/screenshot-samples.png
echo "wrote docs/screenshot-samples.png"
