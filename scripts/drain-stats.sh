#!/usr/bin/env bash
# Where the in-process drain (make bench's (a)) spends: WAL records, full-page images and
# bytes per job from pg_stat_wal, checkpoints, and the whole machine's CPU per job from
# /proc/stat (busy, steal, idle, iowait), over the drain alone and over River's run.
#
#   cargo build --release -p shopsync-bench
#   scripts/with-pg.sh scripts/drain-stats.sh --jobs 300000 --skip-river
#   PG_OPTS='-c max_wal_size=16GB' scripts/with-pg.sh scripts/drain-stats.sh   # server options
#
# (PG_OPTS applies to the throwaway cluster only; with DATABASE_URL set, with-pg.sh uses that
# server as it is.)
# Arguments go to shopsync-bench (`--only a --rounds 1` are set). The PostgreSQL server in
# DATABASE_URL is measured whole: run nothing else on it meanwhile. Linux only.
set -euo pipefail
: "${DATABASE_URL:?run under scripts/with-pg.sh or set DATABASE_URL}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH="$ROOT/target/release/shopsync-bench"
[ -x "$BENCH" ] || { echo "error: $BENCH is missing: cargo build --release -p shopsync-bench" >&2; exit 1; }
PSQL=$(command -v psql || printf '%s\n' /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)
[ -x "$PSQL" ] || { echo "error: psql not found; install the PostgreSQL client" >&2; exit 1; }
q() { "$PSQL" -qAt "$DATABASE_URL" -c "$1"; }
# Checkpoint counts moved to pg_stat_checkpointer in PostgreSQL 17.
if [ "$(q "SHOW server_version_num")" -ge 170000 ]; then
  CKPT="SELECT num_timed + num_requested FROM pg_stat_checkpointer"
else
  CKPT="SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
fi
# wal_records wal_fpi wal_bytes checkpoints busy steal idle iowait (clock ticks)
snap() {
  local wal ckpt
  wal=$(q "SELECT wal_records || ' ' || wal_fpi || ' ' || wal_bytes FROM pg_stat_wal")
  ckpt=$(q "$CKPT")
  echo "$wal $ckpt $(awk '/^cpu /{print $2+$3+$4+$7+$8, $9, $5, $6}' /proc/stat)"
}
OUT=$(mktemp)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -f "$OUT" "$OUT.json"' EXIT
"$BENCH" --only a --rounds 1 --out "$OUT.json" "$@" >"$OUT" 2>&1 &
PID=$!
wait_for() { until grep -q "$1" "$OUT" || ! kill -0 "$PID" 2>/dev/null; do sleep 0.05; done; }
wait_for "(a) draining"
S1=$(snap)
wait_for "(a) drained"
S2=$(snap)
# River's window starts once its database is created (the bench prints the line then).
wait_for "(a) River:"
S2R=$(snap)
wait_for "written to"
S3=$(snap)
wait "$PID" || { cat "$OUT" >&2; exit 1; }
PID=
grep -E "│" "$OUT" || true
JOBS=$(grep -o "drain [0-9]* no-op" "$OUT" | awk '{print $2}')
python3 - "$JOBS" "$S1" "$S2" "$S2R" "$S3" "$(grep -c River "$OUT" || true)" "$(getconf CLK_TCK)" <<'PY'
import sys
n = float(sys.argv[1])
s1, s2, s2r, s3 = ([float(x) for x in a.split()] for a in sys.argv[2:6])
assert all(len(s) == 8 for s in (s1, s2, s2r, s3)), "incomplete snapshot"
hz_us = 1e6 / float(sys.argv[7])  # /proc/stat counts in clock ticks
def row(name, a, b):
    d = [y - x for x, y in zip(a, b)]
    print(f"{name:<28} {d[0]/n:>9.2f} {d[1]/n:>9.3f} {d[2]/n:>9.0f} {d[3]:>6.0f} "
          f"{d[4]*hz_us/n:>8.1f} {d[5]*hz_us/n:>6.1f} {d[6]*hz_us/n:>6.1f} {d[7]*hz_us/n:>7.1f}")
print(f"{'per job':<28} {'WAL recs':>9} {'FPIs':>9} {'WAL B':>9} {'ckpts':>6} "
      f"{'busy µs':>8} {'steal':>6} {'idle':>6} {'iowait':>7}")
row("shopsync drain", s1, s2)
if sys.argv[6] != "0":
    row("River (inserts and work)", s2r, s3)
PY
