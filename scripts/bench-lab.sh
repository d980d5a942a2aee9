#!/usr/bin/env bash
# Lab benchmark (root): one poll of a peer three ways — fresh ssh, a new
# command over a ControlMaster, vipdeck's long-lived remote shell — and the
# latency from a state-file change on the node to the `status --watch` line.
# In full (VIPDECK_BENCH=full); CI runs only its smoke size. Also
# `bash scripts/bench.sh lab-poll`.
set -euo pipefail
cd "$(dirname "$0")/.."
export VIPDECK_BENCH=full
exec cargo test --release --test lab -- --ignored --exact \
  lab_bench::lab_poll_and_transition_latency --nocapture
