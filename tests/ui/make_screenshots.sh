#!/usr/bin/env bash
# Regenerates the README screenshots: the studio trains the demo under Xvfb and saves its
# window when the run ends. Usage: tests/ui/make_screenshots.sh [BUILD_DIR] (default build).
# Fresh settings (a temporary XDG_CONFIG_HOME), so a saved window geometry does not leak in.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"
export XDG_CONFIG_HOME="$(mktemp -d)"
shrink() {  # keep the PNGs small (< 300 kB) when pngquant is there
  if command -v pngquant >/dev/null; then pngquant --force --skip-if-larger --output "$1" 256 "$1" || true
  elif command -v convert >/dev/null; then convert "$1" -colors 256 PNG8:"$1" 2>/dev/null || true; fi
}
repo="$PWD"
build="$(cd "$build" && pwd)"
# The demo runs from a neutral folder (a copy of its config and data), so the window shows
# /tmp/prefstudio/experiments/demo-dpo.json rather than this machine's checkout path.
demo_root=/tmp/prefstudio
rm -rf "$demo_root"
mkdir -p "$demo_root/experiments"
cp experiments/demo-dpo.json "$demo_root/experiments/"
cp -r experiments/data "$demo_root/experiments/"
cd "$demo_root"
db="$demo_root/runs.db"
xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$build/bin/prefstudio" --demo --db "$db" --autorun --quit-when-done --screenshot "$repo/docs/screenshot-demo.png"
shrink "$repo/docs/screenshot-demo.png"
echo "wrote docs/screenshot-demo.png"
# The same at 1280x720: the window fills the small screen, the plots scroll.
db3="$demo_root/runs-1280x720.db"
xvfb-run -a -s "-screen 0 1280x720x24" \
  "$build/bin/prefstudio" --demo --db "$db3" --autorun --quit-when-done --screenshot "$repo/docs/screenshot-1280x720.png"
shrink "$repo/docs/screenshot-1280x720.png"
echo "wrote docs/screenshot-1280x720.png"
# The Samples tab after the demo run: its first eval prompts answered before and after training.
db2="$demo_root/runs-samples.db"
xvfb-run -a -s "-screen 0 1600x1000x24" \
  "$build/bin/prefstudio" --demo --db "$db2" --autorun --samples-screenshot "$repo/docs/screenshot-samples.png"
shrink "$repo/docs/screenshot-samples.png"
echo "wrote docs/screenshot-samples.png"
# Every bottom tab at 1280x720, to look at before a release (not in the README):
# /tmp/prefstudio/tab-runs.png, tab-diagnosis.png, tab-dataset.png, tab-samples.png, tab-log.png.
db4="$demo_root/runs-tabs.db"
xvfb-run -a -s "-screen 0 1280x720x24" \
  "$build/bin/prefstudio" --demo --db "$db4" --autorun --tab-screenshots "$demo_root/tab"
echo "wrote $demo_root/tab-*.png"
