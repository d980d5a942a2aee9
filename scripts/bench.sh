#!/usr/bin/env bash
# vipdeck's benchmarks, in full: the figures docs/performance.md (and
# docs/logs.md, docs/lab.md) quote. CI (scripts/test.sh) runs only the lab
# benchmarks' smoke sizes, as tests; this script runs each in full
# (VIPDECK_BENCH=full), in the build each was meant for, one at a time, and
# prints its figures. The lab benchmarks need root: sudo -E bash scripts/bench.sh
#
#   bash scripts/bench.sh           every benchmark, one after the other
#   bash scripts/bench.sh --list    their names, what each measures
#   bash scripts/bench.sh NAME...   only those
#
# Each benchmark's whole output is also kept in
# ${BENCH_LOG_DIR:-${CARGO_TARGET_DIR:-target}/bench}/NAME.log.
# The lab benchmarks share the lab with the lab tests (/tmp/vdlab-tests.lock):
# each waits for the lab to be free.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export VIPDECK_BENCH=full

# name|root|build|what it measures
benchmarks=(
  "idle|no|release|vipdeck demo left alone: CPU and RSS over 30 s (scripts/bench-idle.sh)"
  "logs|no|release|the log store: ingest 1M lines, the merged view, a search (scripts/bench-logs.sh)"
  "parse|no|release|keepalived log line parsing, lines per second"
  "render|no|release|the dashboard with 300 clusters at 200x60: a frame, a key"
  "lab-poll|yes|release|one poll of a lab peer three ways; state file → status --watch line (scripts/bench-lab.sh)"
  "peer-cost|yes|release|what watching costs a peer host: legacy and today's watcher"
  "fleet|yes|release|1, 10, 100, 300, 1000 clusters of local peers (keepalived stand-ins whose dumps take 50 ms) and the emulator; VIPDECK_FLEET_SIZES=100,1000 picks sizes"
  "soak|yes|release|1000 clusters watched for an hour (status --watch --json and the dashboard) with faults on a schedule: verdicts at every sample, CPU, RSS, fds flat; VIPDECK_SOAK_SECS, VIPDECK_SOAK_CLUSTERS"
  "failover-speed|yes|debug|vipdeck failover --yes against the scripted steps, 4 rounds per mode"
  "wizard-speed|yes|debug|the dashboard's guided failover against the scripted steps, 4 rounds per mode"
  "interruption|yes|debug|client-visible interruption on the lab VPC: keepalived alone vs vipdeck failover, HAVIP and ENI, 3 rounds each; vipdeck's probe against the client loop"
)

field() { # field root|build|what NAME
  local b n root build what
  for b in "${benchmarks[@]}"; do
    IFS='|' read -r n root build what <<<"$b"
    if [ "$n" = "$2" ]; then
      case $1 in
        root) echo "$root" ;;
        build) echo "$build" ;;
        what) echo "$what" ;;
      esac
      return 0
    fi
  done
  return 1
}

list() {
  local b n root build what
  for b in "${benchmarks[@]}"; do
    IFS='|' read -r n root build what <<<"$b"
    printf '%-15s %-8s %s%s\n' "$n" "$build" "$what" "$([ "$root" = yes ] && echo ' [root, the lab]')"
  done
}

log_dir=${BENCH_LOG_DIR:-${CARGO_TARGET_DIR:-target}/bench}

# One ignored test, in full, with its output; fails unless exactly that
# test ran and passed (a filter that matches nothing would pass).
one_test() { # one_test NAME BUILD BINARY TEST_PATH
  local name=$1 build=$2 bin=$3 path=$4 release=()
  [ "$build" = release ] && release=(--release)
  cargo test "${release[@]}" --test "$bin" -- --ignored --exact "$path" --nocapture \
    --test-threads=1 2>&1 | tee "$log_dir/$name.log"
  grep -q 'test result: ok. 1 passed' "$log_dir/$name.log" || {
    echo "bench $name: $bin $path did not run and pass" >&2
    return 1
  }
}

run() { # run NAME
  local name=$1
  case $name in
    idle) bash scripts/bench-idle.sh 2>&1 | tee "$log_dir/$name.log" ;;
    logs) bash scripts/bench-logs.sh 2>&1 | tee "$log_dir/$name.log" ;;
    parse) one_test "$name" release cli keepalived_parsers::parse_line_throughput ;;
    render) one_test "$name" release cli dashboard_render::render_300_clusters_at_200x60 ;;
    lab-poll)
      bash scripts/bench-lab.sh 2>&1 | tee "$log_dir/$name.log"
      grep -q 'test result: ok. 1 passed' "$log_dir/$name.log" || {
        echo "bench $name: lab_bench did not run and pass" >&2
        return 1
      }
      ;;
    peer-cost) one_test "$name" release lab peer_cost_bench::peer_cost_legacy_and_new_watchers ;;
    fleet) one_test "$name" release lab fleet_bench::fleet_of_local_peers_and_the_emulator ;;
    soak) one_test "$name" release lab fleet_soak::a_fleet_watched_for_an_hour_with_faults ;;
    failover-speed)
      one_test "$name" debug lab \
        failover_speed_bench::failover_speed_against_the_scripted_steps_in_both_modes
      ;;
    wizard-speed)
      one_test "$name" debug lab \
        failover_speed_bench::wizard_speed_against_the_scripted_steps_in_both_modes
      ;;
    interruption)
      one_test "$name" debug lab \
        interruption_bench::client_visible_interruption_keepalived_alone_and_vipdeck_failover
      ;;
  esac
}

case ${1:-} in
  --list | -l)
    list
    exit 0
    ;;
  --help | -h)
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    echo
    list
    exit 0
    ;;
esac

names=()
if [ $# = 0 ]; then
  for b in "${benchmarks[@]}"; do names+=("${b%%|*}"); done
else
  for n in "$@"; do
    field what "$n" >/dev/null || {
      echo "bench.sh: no benchmark named '$n'; bash scripts/bench.sh --list" >&2
      exit 2
    }
    names+=("$n")
  done
fi

if [ "$(id -u)" != 0 ]; then
  for n in "${names[@]}"; do
    if [ "$(field root "$n")" = yes ]; then
      echo "bench.sh: $n runs on the lab and needs root: sudo -E bash scripts/bench.sh ${*:-}" >&2
      exit 1
    fi
  done
fi

mkdir -p "$log_dir"
summary=()
for n in "${names[@]}"; do
  echo "=== bench $n ($(field build "$n") build): $(field what "$n")"
  start=$(date +%s)
  if run "$n"; then
    result=ok
  else
    result=FAILED
  fi
  took=$(($(date +%s) - start))
  echo "=== bench $n: $result in ${took}s (output in $log_dir/$n.log)"
  echo
  summary+=("$(printf '%-15s %-6s %5ss' "$n" "$result" "$took")")
done

echo "=== benchmarks (VIPDECK_BENCH=full):"
printf '%s\n' "${summary[@]}"
! printf '%s\n' "${summary[@]}" | grep -q FAILED
