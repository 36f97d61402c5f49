#!/usr/bin/env bash
# Cost of /metrics on the ingest path, side by side: two server processes, one
# with metrics on and one with them off, each loaded by its own harness
# (`eventide bench`, same workload, same seed) at the same time, so both see
# the same machine (these machines are shared and their load swings by 2x
# within a minute; back-to-back runs measured that swing, not the metrics).
# The "on" server is also scraped once a second (Prometheus scrapes every
# 15-60 s: the pessimistic side). Every round starts both servers from a copy
# of the same data directory (keys only), so each harness checks its own
# counts; rounds swap the ports.
#
# Usage: npm run build && bench/edge/metrics-ab.sh [rounds] [duration-ms]
# Writes bench/out/metrics-ab/<round>-<on|off>/result.{json,md}; prints one line per side and round:
#   check  metrics  events/s  ack p50/p99 ms  server CPU s  CPU ms per 10K events  loadavg before
set -euo pipefail

ROUNDS=${1:-3}
DURATION_MS=${2:-8000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CLI="$ROOT/dist/src/cli.js"
OUT="$ROOT/bench/out/metrics-ab"
WORK=$(mktemp -d /tmp/eventide-metrics-ab.XXXXXX)
BASE_PORT=${BASE_PORT:-18480}
OWNERS=100
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$OUT"

# One data directory with a key per owner, copied for every server.
node --input-type=module -e "
  import { writeFileSync } from 'node:fs';
  const { openKeyStore } = await import('$ROOT/dist/src/store/open.js');
  const { createKey, loadOrCreateServerSecret } = await import('$ROOT/dist/src/auth/keys.js');
  const dir = '$WORK/template';
  const store = await openKeyStore({ dataDir: dir });
  const secret = await loadOrCreateServerSecret(dir);
  const keys = {};
  for (let i = 0; i < $OWNERS; i++) keys['owner-' + i] = (await createKey(store, secret, { owner: 'owner-' + i, scopes: ['ingest', 'read'], nowMs: Date.now() })).key;
  await store.close();
  writeFileSync('$WORK/keys.json', JSON.stringify(keys));
"

cpu_seconds() { # utime + stime of a process (all its threads), seconds
  awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

start_server() { # $1 = on|off, $2 = http port, $3 = round; prints the pid
  local enabled=true data="$WORK/$3-$1"
  [ "$1" = off ] && enabled=false
  cp -r "$WORK/template" "$data"
  node "$CLI" start --data-dir "$data" --http-port "$2" --grpc-port $(($2 + 1)) --no-dev-key \
    --log-level warn --metrics-enabled "$enabled" >"$WORK/server-$3-$1.log" 2>&1 &
  echo $!
}

report() { # $1 = on|off, $2 = round, $3 = cpu seconds, $4 = loadavg
  node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    const r = JSON.parse(readFileSync('$OUT/$2-$1/result.json', 'utf8'));
    const t = r.targets[0];
    console.log([r.ok ? 'pass' : 'FAIL', '$1', Math.round(t.eventsPerS), t.ack.p50Ms + '/' + t.ack.p99Ms, Number('$3').toFixed(2), ($3 * 1e3 / (t.acceptedEvents / 1e4)).toFixed(1), '$4'].join('\t'));
  "
}

echo -e "check\tmetrics\tevents/s\tack p50/p99 ms\tserver CPU s\tCPU ms/10K ev\tloadavg before"
for round in $(seq "$ROUNDS"); do
  # Swap the ports every round, so neither side keeps one.
  if [ $((round % 2)) -eq 1 ]; then on_port=$BASE_PORT off_port=$((BASE_PORT + 10)); else on_port=$((BASE_PORT + 10)) off_port=$BASE_PORT; fi
  on_pid=$(start_server on "$on_port" "$round")
  off_pid=$(start_server off "$off_port" "$round")
  PIDS=("$on_pid" "$off_pid")
  for port in "$on_port" "$off_port"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  done
  # One long-lived scraper process (not a curl per scrape, which would load the machine itself).
  node -e "setInterval(() => fetch('http://127.0.0.1:$on_port/metrics').then((r) => r.text()).catch(() => {}), 1000)" &
  scraper_pid=$!
  PIDS+=("$scraper_pid")
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  on_cpu0=$(cpu_seconds "$on_pid") off_cpu0=$(cpu_seconds "$off_pid")
  bench() { # $1 = on|off, $2 = port
    node "$CLI" bench --duration-ms "$DURATION_MS" --owners "$OWNERS" --keys-file "$WORK/keys.json" \
      --http-url "http://127.0.0.1:$2" --grpc-target "127.0.0.1:$(($2 + 1))" --ws-url "ws://127.0.0.1:$2/v1/stream" \
      --out "$OUT/$round-$1" >"$WORK/bench-$round-$1.log" 2>&1 || true
  }
  bench on "$on_port" &
  bench_on=$!
  bench off "$off_port" &
  bench_off=$!
  wait "$bench_on" "$bench_off"
  on_cpu1=$(cpu_seconds "$on_pid") off_cpu1=$(cpu_seconds "$off_pid")
  kill "$scraper_pid" "$on_pid" "$off_pid"
  wait "$scraper_pid" "$on_pid" "$off_pid" 2>/dev/null || true
  PIDS=()
  report on "$round" "$(echo "$on_cpu1 - $on_cpu0" | bc)" "$load"
  report off "$round" "$(echo "$off_cpu1 - $off_cpu0" | bc)" "$load"
done
