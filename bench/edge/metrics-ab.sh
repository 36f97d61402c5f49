#!/usr/bin/env bash
# Cost of /metrics on the ingest path, side by side: bench/ab.sh with metrics
# on (scraped once a second) against metrics off, loaded at the same time.
#
# Usage: npm run build && bench/edge/metrics-ab.sh [rounds] [duration-ms]
# Writes bench/out/ab/<round>-<A|B>/result.{json,md}; prints one line per side and round.
set -euo pipefail
A_NAME=on A_FLAGS="--metrics-enabled true" A_SCRAPE=1 B_NAME=off B_FLAGS="--metrics-enabled false" \
  exec bash "$(dirname "$0")/../ab.sh" "${1:-3}" "${2:-8000}"
