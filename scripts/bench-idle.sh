#!/usr/bin/env bash
# Measures what `vipdeck demo` costs when nobody touches it: CPU (% of one
# core) and resident memory over 30 s, driven in a real terminal (tmux).
# Target: under 2% of a core. Also `bash scripts/bench.sh idle`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$(pwd)/$target_dir ;; esac
bin=$target_dir/release/vipdeck
session=vipdeck-bench-$$
tmux new-session -d -s "$session" -x 120 -y 40 "$bin demo"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
sleep 3
pid=$(tmux list-panes -t "$session" -F '#{pane_pid}')
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t1=$(ticks); s1=$(date +%s.%N)
sleep "${SECONDS_TO_MEASURE:-30}"
t2=$(ticks); s2=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
python3 - "$t1" "$t2" "$s1" "$s2" "$hz" "$rss" <<'PY'
import sys
t1, t2, s1, s2, hz, rss = map(float, sys.argv[1:])
cpu = (t2 - t1) / hz / (s2 - s1) * 100
print(f"vipdeck demo idle: {cpu:.2f}% of a core over {s2 - s1:.1f}s, RSS {rss / 1024:.1f} MiB (target < 2%)")
PY
