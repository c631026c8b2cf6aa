#!/bin/bash
# `workbench score` before and after a change, interleaved (before, after, before, ...).
# Usage: bench/score_interleaved.sh BEFORE_CHECKOUT [PAIRS]
#   BEFORE_CHECKOUT: e.g. `git worktree add /tmp/before 11f0ee2`; "after" is this checkout.
# Data: the drift bench's 284,807-row CSV and home (run bench/drift_speed.py once first).
# Each run gets a fresh SQLite audit database; prints "before|after SECONDS" per run.
set -euo pipefail
after=$(cd "$(dirname "$0")/.." && pwd)
before=${1:?usage: bench/score_interleaved.sh BEFORE_CHECKOUT [PAIRS]}
data=$after/bench/out/drift
export WORKBENCH_HOME=$data/home-284807
for _ in $(seq "${2:-6}"); do
  for tree in "$before" "$after"; do
    db=$(mktemp -u /tmp/interleaved-XXXXXX.db)
    start=$(date +%s.%N)
    (cd "$tree" && WORKBENCH_DATABASE_URL=sqlite:///$db "$after/.venv/bin/python" -c \
      "import sys; sys.argv[0] = 'workbench'; from cli.main import main; main()" \
      score --data "$data/current-284807.csv" --out "$db.csv" --json >/dev/null)
    end=$(date +%s.%N)
    [ "$tree" = "$before" ] && name=before || name=after
    echo "$name $(echo "$end - $start" | bc)"
    rm -f "$db" "$db.csv" "$db.rejected.csv"
  done
done
