#!/usr/bin/env bash
# Runs every test vipdeck has, after installing what the tests need:
# the official Tencent Cloud SDK for Python in .venv (the reference the
# signer and the emulator are checked against) and, as root, the lab's
# packages (keepalived, sshd, tcpdump, ...). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -f scripts/setup-venv.sh ]; then
  bash scripts/setup-venv.sh
fi
if [ "$(id -u)" = 0 ] && [ -f scripts/install-lab-deps.sh ]; then
  bash scripts/install-lab-deps.sh
fi

# Lab tests share one lab: run test binaries one after another.
cargo test --all-targets -- --test-threads="${TEST_THREADS:-2}"
