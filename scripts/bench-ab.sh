#!/usr/bin/env bash
# A/B of two release builds of the benchmark, rounds alternating which goes first:
#   scripts/bench-ab.sh DIR_A DIR_B OUT_DIR [ROUNDS] [shopsync-bench args…]
# DIR_A and DIR_B are target/release directories (each with shopsync-bench and the service
# binaries it starts). Every run gets a throwaway PostgreSQL cluster (scripts/with-pg.sh) and
# writes OUT_DIR/{a,b}-<round>-{queue,shopify,erp}.json.
set -euo pipefail
A=$1 B=$2 OUT=$3 ROUNDS=${4:-3}
shift 4 || shift $#
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUT"
run() { # label dir round
  "$ROOT/scripts/with-pg.sh" "$2/shopsync-bench" --skip-river --rounds 1 \
    --out "$OUT/$1-$3-queue.json" --shopify-out "$OUT/$1-$3-shopify.json" \
    --erp-out "$OUT/$1-$3-erp.json" "${ARGS[@]}" >"$OUT/$1-$3.log" 2>&1
}
ARGS=("$@")
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then run a "$A" "$r"; run b "$B" "$r"; else run b "$B" "$r"; run a "$A" "$r"; fi
  echo "round $r done" >&2
done
