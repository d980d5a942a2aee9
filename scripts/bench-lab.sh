#!/usr/bin/env bash
# Lab benchmark (root): one poll of a peer three ways — fresh ssh, a new
# command over a ControlMaster, vipdeck's long-lived remote shell — and the
# latency from a state-file change on the node to the `status --watch` line.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --release --test lab -- --ignored --nocapture lab_bench
