#!/usr/bin/env bash
# Runs every test vipdeck has, after installing what the tests need:
# the official Tencent Cloud SDK for Python in .venv (the reference the
# signer and the emulator are checked against) and, as root, the lab's
# packages (keepalived, sshd, tcpdump, ...). Safe to run again.
#
# Lab tests (tests/lab, the `lab` test binary) need root and network
# namespaces; they are #[ignore]d so a plain `cargo test` counts them as
# ignored. As root this script runs them; with CI=true it refuses to run
# without root, so CI never skips them.
set -euo pipefail
cd "$(dirname "$0")/.."

root=false
if [ "$(id -u)" = 0 ]; then
  root=true
elif [ "${CI:-}" = true ]; then
  echo "CI must run the lab tests, which need root: run scripts/test.sh as root" >&2
  exit 1
fi

if [ -f scripts/setup-venv.sh ]; then
  bash scripts/setup-venv.sh
fi
if [ "$root" = true ] && [ -f scripts/install-lab-deps.sh ]; then
  bash scripts/install-lab-deps.sh
fi

cargo test --all-targets -- --test-threads="${TEST_THREADS:-2}"

if [ "$root" = true ]; then
  # The lab tests, the ignored ones of the lab binary. They share one lab
  # (each holds /tmp/vdlab-tests.lock), so they take turns.
  cargo test --test lab -- --ignored --test-threads="${TEST_THREADS:-2}"
else
  echo "lab tests ignored (not root): sudo -E bash scripts/test.sh runs them" >&2
fi
