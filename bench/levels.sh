#!/usr/bin/env bash
# How fast the whole box goes when a shard worker stops after each stage of
# its path: the ceiling each stage leaves for the ones after it, measured in
# the real server under the real harness (not added up from micro benches).
#
# A scratch build (a git worktree of HEAD with bench/levels.patch applied,
# never main) whose workers, when EVENTIDE_SCRATCH_STOP_AFTER is set, answer
# "all accepted" after that stage and do nothing more:
#   count   the events counted, nothing decoded (protobuf; other formats decode to count)
#   decode  the body decoded to events
#   apply   validated and applied (dedup, windows, HLL, ws deltas), nothing stored or logged
#   pack    and packed for the store (prepareEvents: the bucket codec), then dropped: not logged, not written
# Batches the columnar path takes (protobuf, src/actors/columns.ts) stop at the same stages of
# that path (decode = read into columns and validated; apply = applyColumns; pack = prepareColumns);
# SERVER_CONFIG='{"keyEventsPerSec":0,"keyRequestsPerSec":0,"columnarPath":false}' measures the record path's.
#   full    the product as it is (the variable unset)
# Each level is one in-process `eventide bench` (the harness beside the
# server, as every figure in RESULTS.md), the per-key rate lifted so that the
# busiest Zipf owner is not what stops it; levels alternate round by round.
# The correctness check fails for every level but `full` (nothing is counted):
# only events/s and CPU are read from it.
#
# SERVER_CONFIG: the --server-config JSON (default: the per-key rates lifted), e.g. to try a setting's cost.
# Usage: bench/levels.sh [protocol=http-protobuf] [rounds=2] [duration-ms=10000] [levels="count decode apply pack full"]
# Prints one line per level and round: level, events/s, process CPU (cores), µs of CPU per event.
set -euo pipefail

PROTOCOL=${1:-http-protobuf}
ROUNDS=${2:-2}
DURATION_MS=${3:-10000}
LEVELS=${4:-count decode apply pack full}
SERVER_CONFIG=${SERVER_CONFIG:-'{"keyEventsPerSec":0,"keyRequestsPerSec":0}'}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/eventide-levels.XXXXXX)
TREE="$WORK/tree"

cleanup() {
  git -C "$ROOT" worktree remove --force "$TREE" 2>/dev/null || true
  git -C "$ROOT" worktree prune
  rm -rf "$WORK"
}
trap cleanup EXIT

git -C "$ROOT" worktree add --detach "$TREE" HEAD >/dev/null 2>&1
if ! git -C "$TREE" apply "$ROOT/bench/levels.patch"; then
  echo "bench/levels.patch no longer applies to src/runtime/shard-host.ts: update it (see its three hunks)" >&2
  exit 1
fi
ln -s "$ROOT/node_modules" "$TREE/node_modules"
(cd "$TREE" && npx tsc -p . >/dev/null)

printf '%-7s %12s %6s %10s  %s\n' level events/s cores 'µs/event' 'load average'
for ((round = 1; round <= ROUNDS; round++)); do
  for level in $LEVELS; do
    out="$WORK/out-$round-$level"
    stop=$level
    [ "$level" = full ] && stop=
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    EVENTIDE_SCRATCH_STOP_AFTER=$stop node --initial-old-space-size=128 "$TREE/dist/src/cli.js" bench \
      --protocol "$PROTOCOL" --subscribers 100 --duration-ms "$DURATION_MS" --warmup-ms 2000 --connections 16 \
      --server-config "$SERVER_CONFIG" --out "$out" >/dev/null 2>&1 || true
    if [ ! -f "$out/result.json" ]; then
      echo "$level: the run wrote no result.json" >&2
      exit 1
    fi
    node -e '
      const t = require(process.argv[1]).targets[0];
      const cores = t.server.cpuCoresMean;
      const line = [process.argv[2].padEnd(7), Math.round(t.eventsPerS).toLocaleString("en-US").padStart(12), cores.toFixed(2).padStart(6), (cores / t.eventsPerS * 1e6).toFixed(2).padStart(10)];
      console.log(line.join(" ") + "  " + process.argv[3]);
    ' "$out/result.json" "$level" "$load"
  done
done
