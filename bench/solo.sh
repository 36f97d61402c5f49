#!/usr/bin/env bash
# Two server builds or configurations, each ALONE on the machine, in
# alternating runs: A, B, A, B, ... Each run starts `eventide start` from a
# copy of the same data directory (keys only) and loads it with `eventide
# bench` from another process (the same workload and seed every time).
#
# Why not bench/ab.sh (both at once)? There the two servers compete for the
# same cores, which is right for CPU per event but wrong for a change in how a
# saturated server paces its senders: a server that waits for its store leaves
# CPU to the other one. Alternating runs see the machine drift between runs
# instead, so use several rounds and compare the spread, not one pair.
#
# A_CLI / B_CLI: another build's cli.js for that side; A_FLAGS / B_FLAGS: more
# `eventide start` flags. Usage:
#   npm run build && A_NAME=old A_CLI=/tmp/old/dist/src/cli.js B_NAME=new bench/solo.sh [rounds] [duration-ms] [extra bench flags...]
# Prints one line per run: name, events/s, ack p50/p99 ms, refused batches, server CPU s, load average before.
set -euo pipefail

ROUNDS=${1:-3}
DURATION_MS=${2:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI="$ROOT/dist/src/cli.js"
A_NAME=${A_NAME:-a} B_NAME=${B_NAME:-b}
A_FLAGS=${A_FLAGS:-} B_FLAGS=${B_FLAGS:-}
A_CLI=${A_CLI:-$CLI} B_CLI=${B_CLI:-$CLI}
EXTRA=("${@:3}")
WORK=$(mktemp -d /tmp/eventide-solo.XXXXXX)
PORT=${PORT:-18680}
PID=""

cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

node "$ROOT/dist/bench/keys-template.js" "$WORK/template" 100 "$WORK/keys.json"

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

run() { # $1 = name, $2 = cli, $3 = flags, $4 = round
  local data="$WORK/$4-$1" load
  cp -r "$WORK/template" "$data"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  # shellcheck disable=SC2086
  node "$2" start --data-dir "$data" --http-port "$PORT" --grpc-port $((PORT + 1)) --no-dev-key --log-level warn $3 >"$WORK/server-$4-$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  local c0 c1
  c0=$(cpu_seconds "$PID")
  node "$CLI" bench --duration-ms "$DURATION_MS" --connections 16 --owners 100 --keys-file "$WORK/keys.json" \
    --http-url "http://127.0.0.1:$PORT" --grpc-target "127.0.0.1:$((PORT + 1))" --ws-url "ws://127.0.0.1:$PORT/v1/stream" \
    --out "$WORK/out-$4-$1" "${EXTRA[@]}" >/dev/null 2>&1 || true
  c1=$(cpu_seconds "$PID")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  rm -rf "$data"
  node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    const r = JSON.parse(readFileSync('$WORK/out-$4-$1/result.json', 'utf8'));
    const t = r.targets[0];
    const refused = Object.values(t.refusals ?? {}).reduce((a, b) => a + b, 0);
    console.log([r.ok ? 'pass' : 'FAIL', '$1', Math.round(t.eventsPerS), t.ack.p50Ms + '/' + t.ack.p99Ms, refused, ($c1 - $c0).toFixed(2), '$load'].join('\t'));
  "
}

printf 'check\tside\tevents/s\tack p50/p99 ms\trefused\tserver CPU s\tloadavg before\n'
for round in $(seq "$ROUNDS"); do
  run "$A_NAME" "$A_CLI" "$A_FLAGS" "$round"
  run "$B_NAME" "$B_CLI" "$B_FLAGS" "$round"
done
