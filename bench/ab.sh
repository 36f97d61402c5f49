#!/usr/bin/env bash
# Two server configurations side by side: two eventide processes, each loaded
# by its own harness (`eventide bench`, same workload, same seed) at the same
# time, so both see the same machine (these machines are shared and their
# load swings by 2x within a minute: back-to-back runs measure the swing).
# Every round starts both servers from a copy of the same data directory (keys
# only), so each harness checks its own counts; rounds swap the ports.
# Generalized from bench/edge/metrics-ab.sh.
#
# A_ENV / B_ENV: environment assignments for that side's server (e.g. B_ENV="UV_THREADPOOL_SIZE=8");
# A_CLI / B_CLI: another build's cli.js for that side (e.g. a copy of dist/ from the commit before a change).
# Usage: npm run build && A_NAME=applied A_FLAGS="--ack-default applied" \
#          B_NAME=durable B_FLAGS="--ack-default durable" bench/ab.sh [rounds] [duration-ms] [extra bench flags...]
# OWNERS=100000 for a many-owner workload (default 100 owners, one key each).
# Writes bench/out/ab/<round>-<name>/result.{json,md}; prints one line per side and round:
#   check  side  events/s  ack p50/p99 ms  server CPU s  CPU ms per 10K events  loadavg before
set -euo pipefail

ROUNDS=${1:-3}
DURATION_MS=${2:-8000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI="$ROOT/dist/src/cli.js"
OUT="$ROOT/bench/out/ab"
A_NAME=${A_NAME:-a} B_NAME=${B_NAME:-b}
A_FLAGS=${A_FLAGS:-} B_FLAGS=${B_FLAGS:-}
A_ENV=${A_ENV:-} B_ENV=${B_ENV:-}
A_CLI=${A_CLI:-$CLI} B_CLI=${B_CLI:-$CLI}
EXTRA=("${@:3}")
WORK=$(mktemp -d /tmp/eventide-ab.XXXXXX)
BASE_PORT=${BASE_PORT:-18480}
OWNERS=${OWNERS:-100}
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

# One data directory with a key per owner, copied for every server.
node "$ROOT/dist/bench/keys-template.js" "$WORK/template" $OWNERS "$WORK/keys.json"

cpu_seconds() { # utime + stime of a process (all its threads), seconds
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

start_server() { # $1 = A|B, $2 = http port, $3 = round; prints the pid
  local flags envs cli data="$WORK/$3-$1"
  if [ "$1" = A ]; then flags=$A_FLAGS envs=$A_ENV cli=$A_CLI; else flags=$B_FLAGS envs=$B_ENV cli=$B_CLI; fi
  cp -r "$WORK/template" "$data"
  # shellcheck disable=SC2086
  # As npm start starts it (src/runtime/supervisor.ts MAIN_HEAP_INITIAL_MB).
  env $envs node --initial-old-space-size=128 "$cli" start --data-dir "$data" --http-port "$2" --grpc-port $(($2 + 1)) --no-dev-key \
    --log-level warn $flags >"$WORK/server-$3-$1.log" 2>&1 &
  echo $!
}

report() { # $1 = A|B, $2 = round, $3 = cpu seconds, $4 = loadavg, $5 = name
  node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    const r = JSON.parse(readFileSync('$OUT/$2-$1/result.json', 'utf8'));
    const t = r.targets[0];
    console.log([r.ok ? 'pass' : 'FAIL', '$5', Math.round(t.eventsPerS), t.ack.p50Ms + '/' + t.ack.p99Ms, Number('$3').toFixed(2), ($3 * 1e3 / (t.acceptedEvents / 1e4)).toFixed(1), '$4'].join('\t'));
  "
}

echo -e "check\tside\tevents/s\tack p50/p99 ms\tserver CPU s\tCPU ms/10K ev\tloadavg before"
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then a_port=$BASE_PORT b_port=$((BASE_PORT + 10)); else a_port=$((BASE_PORT + 10)) b_port=$BASE_PORT; fi
  a_pid=$(start_server A "$a_port" "$round")
  b_pid=$(start_server B "$b_port" "$round")
  PIDS=("$a_pid" "$b_pid")
  for port in "$a_port" "$b_port"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  done
  # A_SCRAPE=1: side A is also scraped once a second (Prometheus scrapes every 15-60 s: the pessimistic side),
  # by one long-lived process rather than a curl per scrape, which would load the machine itself.
  if [ "${A_SCRAPE:-0}" = 1 ]; then
    node -e "setInterval(() => fetch('http://127.0.0.1:$a_port/metrics').then((r) => r.text()).catch(() => {}), 1000)" &
    PIDS+=("$!")
  fi
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  a_cpu0=$(cpu_seconds "$a_pid") b_cpu0=$(cpu_seconds "$b_pid")
  bench() { # $1 = A|B, $2 = port
    node "$CLI" bench --duration-ms "$DURATION_MS" --owners "$OWNERS" --keys-file "$WORK/keys.json" \
      --http-url "http://127.0.0.1:$2" --grpc-target "127.0.0.1:$(($2 + 1))" --ws-url "ws://127.0.0.1:$2/v1/stream" \
      --out "$OUT/$round-$1" "${EXTRA[@]}" >"$WORK/bench-$round-$1.log" 2>&1 || true
  }
  bench A "$a_port" &
  bench_a=$!
  bench B "$b_port" &
  bench_b=$!
  wait "$bench_a" "$bench_b"
  a_cpu1=$(cpu_seconds "$a_pid") b_cpu1=$(cpu_seconds "$b_pid")
  kill "${PIDS[@]}"
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
  report A "$round" "$(echo "$a_cpu1 - $a_cpu0" | bc)" "$load" "$A_NAME"
  report B "$round" "$(echo "$b_cpu1 - $b_cpu0" | bc)" "$load" "$B_NAME"
done
