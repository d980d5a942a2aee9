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

# The binary users install: scripts/release.sh builds it (glibc 2.17 and
# newer, stripped) and prints its path last; the ignored test
# release_binary checks that file (symbol versions, stripped, x86_64 PIE,
# --version). It must run exactly once: a filter matching nothing would pass.
release_bin=$(bash scripts/release.sh | tail -n1)
release_out=$(VIPDECK_RELEASE_BIN="$release_bin" cargo test --test cli \
  release_binary::the_release_binary_runs_on_glibc_2_17_and_later -- --ignored --exact 2>&1) || {
  echo "$release_out" >&2
  echo "the release binary check failed" >&2
  exit 1
}
grep -q 'test result: ok. 1 passed' <<<"$release_out" || {
  echo "$release_out" >&2
  echo "the release binary check did not run" >&2
  exit 1
}
echo "release binary $release_bin: checked (glibc <= 2.17, stripped, x86_64 PIE, --version)"

# The parsers' fuzz targets (proptest, a dev-dependency: cargo fetches it),
# seeded with tests/fixtures and ../shared/seeds, each for a bounded time
# in an optimised build; each prints its iterations, time and crashes.
fuzz_out=$(VIPDECK_FUZZ_SECS="${VIPDECK_FUZZ_SECS:-20}" \
  cargo test --release --test adversarial fuzz_ -- --nocapture --test-threads=1 2>&1) || {
  echo "$fuzz_out" >&2
  echo "fuzzing failed" >&2
  exit 1
}
echo "$fuzz_out" | grep -oE 'fuzz [^:]+: [0-9]+ iterations, [0-9.]+s, [0-9]+ crash(es)?|test result: .*'

if [ "$root" = true ]; then
  # The lab tests, the ignored ones of the lab binary. They share one lab
  # (each holds /tmp/vdlab-tests.lock), so they take turns.
  cargo test --test lab -- --ignored --test-threads="${TEST_THREADS:-2}"
  # The adversarial tests that need root (a real full disk on a tmpfs).
  cargo test --test adversarial -- --ignored --test-threads="${TEST_THREADS:-2}"
else
  echo "lab and root-only adversarial tests ignored (not root): sudo -E bash scripts/test.sh runs them" >&2
fi
