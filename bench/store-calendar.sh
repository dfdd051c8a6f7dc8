#!/usr/bin/env bash
# The 400-page calendar run (flows/graph-calendar.flow.json, `weft run`) with the SQLite run
# store (every node journaled before the next starts) against the same run with `--store none`,
# from `weft sim` with a fixed upstream latency.
#
# Both are run interleaved RUNS times (the order alternates), each measured with
# `/usr/bin/time -f '%e %U %S %M'`; the script prints the medians and the ratios against the
# targets (wall <= 1.10x, CPU <= 1.3x), the store file's size after all the runs and after
# `weft runs prune --older-than 0s`, and ends with one summary line. Every output is checked
# to be byte-identical to the first.
#
# Environment: RUNS (default 5), LATENCY_MS (5), PAGE_SIZE (10), PAGES (400),
# USER_UPN (adele@weft.test), NO_BUILD=1 to use the binaries already built.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-5}
LATENCY_MS=${LATENCY_MS:-5}
PAGE_SIZE=${PAGE_SIZE:-10}
PAGES=${PAGES:-400}
USER_UPN=${USER_UPN:-adele@weft.test}

prepare calendar_handwritten # its program finds the window
make_work store-calendar

start_sim
find_window
DB=$WORK/runs.db
RUN_CMD=("$WEFT" run flows/graph-calendar.flow.json --profiles flows/profiles.sim.json
    --param "graph_base=$SIM/v1.0" --param "user=$USER_UPN" --param "from=$FROM"
    --param "to=$TO" --param "page_size=$PAGE_SIZE" --state-dir "$WORK/state" --quiet)

NONE_CMD=("${RUN_CMD[@]}" --store none)
SQLITE_CMD=("${RUN_CMD[@]}" --store "sqlite:$DB")

"${NONE_CMD[@]}" >"$WORK/want.json" # the warm-up, and what every run must print
SAME=identical
interleave none NONE_CMD sqlite SQLITE_CMD
SIZE_AFTER_RUNS=$(stat -c %s "$DB")
STEPS=$("$WEFT" runs show "$("$WEFT" runs list --store "sqlite:$DB" --format json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)" \
    --store "sqlite:$DB" --format json | grep -c '"node":' || true)
"$WEFT" runs prune --older-than 0s --store "sqlite:$DB" 2>/dev/null
SIZE_AFTER_PRUNE=$(stat -c %s "$DB")

for who in none sqlite; do
    eval "${who}_wall=$(col $who 1) ${who}_cpu=$(cpu $who) ${who}_rss=$(col $who 4)"
done
R_WALL=$(ratio "$sqlite_wall" "$none_wall")
R_CPU=$(ratio "$sqlite_cpu" "$none_cpu")

echo
echo "calendar run with the SQLite store vs --store none: $PAGE_COUNT pages of $PAGE_SIZE ($ITEMS items, $STEPS steps journaled a run), ${LATENCY_MS} ms upstream, median of $RUNS interleaved runs"
printf '%-14s %9s %9s %12s\n' "" "wall s" "CPU s" "peak RSS KiB"
printf '%-14s %9s %9s %12s\n' "--store none" "$none_wall" "$none_cpu" "$none_rss"
printf '%-14s %9s %9s %12s\n' "sqlite" "$sqlite_wall" "$sqlite_cpu" "$sqlite_rss"
printf '%-14s %9s %9s\n' "ratio" "${R_WALL}x" "${R_CPU}x"
echo "store file: $SIZE_AFTER_RUNS bytes after $RUNS runs, $SIZE_AFTER_PRUNE bytes after pruning them"
echo "SUMMARY store-calendar: $PAGE_COUNT pages/${LATENCY_MS}ms, median of $RUNS: wall ${sqlite_wall}s vs ${none_wall}s = ${R_WALL}x ($(verdict "$R_WALL" 1.10)), CPU ${sqlite_cpu}s vs ${none_cpu}s = ${R_CPU}x ($(verdict "$R_CPU" 1.3)), file ${SIZE_AFTER_RUNS} B after the runs, ${SIZE_AFTER_PRUNE} B after prune, outputs $SAME"
[ "$SAME" = identical ]
