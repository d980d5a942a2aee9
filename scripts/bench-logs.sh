#!/usr/bin/env bash
# Log store figures (not a timed test): ingest 1M keepalived lines (the
# real 2.2.7 capture, repeated, two peers x two sources) into the default
# 100k-per-stream buffer, then build the merged view and search the whole
# buffer. Release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --quiet --test cli -- --ignored --nocapture bench_ingest_and_search 2>&1 |
    grep -E '^(ingest|memory|merged|search|log screen|n )'
