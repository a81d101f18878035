#!/usr/bin/env bash
# `bench/callgrind-intake.sh <tree> <out-file> [deliveries=3000] [seeded=20000] [concurrency=10]`:
# instructions of `deliveries` 100ms webhook deliveries through the intake (bench/intake-loop.ts's
# child: WebhookIntake.handle on SQLite in /dev/shm, no HTTP), counted by callgrind from after the
# 4,000 deliveries of warm-up to the end of the measured ones, in `tree` (this one or a worktree of
# another commit). Prints the instructions by object (better_sqlite3.node, libc, node) and a
# delivery. valgrind runs the process ~50x slower, so group sizes and the flush policy are not a
# normal run's; compare trees at the same arguments.
set -euo pipefail
tree=$(cd "$1" && pwd)
out=$2
deliveries=${3:-3000}
seeded=${4:-20000}
concurrency=${5:-10}
here=$(cd "$(dirname "$0")" && pwd)
flag=$(mktemp -u /tmp/callgrind-intake.XXXXXX)
cd "$tree"
INTAKE_LOOP_TREE=$tree INTAKE_LOOP_PAUSE=$flag valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$out" node --import tsx "$here/intake-loop.ts" "$deliveries" \
  --seed="$seeded" --concurrency="$concurrency" >"$out.log" 2>&1 &
pid=$!
until [ -e "$flag.warm" ]; do sleep 1; kill -0 $pid 2>/dev/null || { cat "$out.log"; exit 1; }; done
callgrind_control -i on $pid >/dev/null 2>&1
touch "$flag.go"
until [ -e "$flag.measured" ]; do sleep 1; kill -0 $pid 2>/dev/null || { cat "$out.log"; exit 1; }; done
callgrind_control -i off $pid >/dev/null 2>&1
touch "$flag.exit"
wait $pid || true
rm -f "$flag".*
callgrind_annotate --inclusive=no "$out" 2>/dev/null | awk -v n="$deliveries" '
  /PROGRAM TOTALS/ { gsub(",", "", $1); printf "total: %d instructions, %.1fk a delivery\n", $1, $1 / n / 1000 }'
callgrind_annotate --inclusive=no --show-percs=no "$out" 2>/dev/null | awk -v n="$deliveries" '
  /^ *[0-9,]+ .*:/ { v = $1; gsub(",", "", v); split($2, p, ":"); obj = p[1]; sub(/.*\//, "", obj); by[obj] += v }
  END { for (o in by) if (by[o] > 1e6) printf "  %-28s %12d  %.1fk a delivery\n", o, by[o], by[o] / n / 1000 }' | sort -k2 -nr | head -8
