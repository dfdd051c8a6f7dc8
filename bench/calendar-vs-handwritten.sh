#!/usr/bin/env bash
# The calendar flow (flows/graph-calendar.flow.json, `weft run`) against a hand-written
# reqwest + serde program making the same requests (examples/calendar_handwritten.rs), over
# 400 calendarView pages from `weft sim` with a fixed upstream latency.
#
# Both are run interleaved RUNS times (the order alternates), each measured with
# `/usr/bin/time -f '%e %U %S %M'` (wall s, user s, sys s, peak RSS KiB); the script prints the
# medians, the ratios against the issue's targets (wall ≤ 1.05×, CPU ≤ 2×, peak memory ≤ 2×)
# and ends with one summary line. Both outputs are checked to be byte-identical.
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

prepare calendar_handwritten
make_work calendar

# --- the simulator -----------------------------------------------------------------------------
start_sim

# --- a window of PAGES pages -------------------------------------------------------------------
find_window

FLOW_CMD=("$WEFT" run flows/graph-calendar.flow.json --profiles flows/profiles.sim.json
    --param "graph_base=$SIM/v1.0" --param "user=$USER_UPN" --param "from=$FROM"
    --param "to=$TO" --param "page_size=$PAGE_SIZE" --state-dir "$WORK/state")
HAND_CMD=("$HANDWRITTEN" "$SIM" "$USER_UPN" "$FROM" "$TO" "$PAGE_SIZE")

# --- same output? (also the warm-up) -----------------------------------------------------------
"${FLOW_CMD[@]}" >"$WORK/want.json"
"${HAND_CMD[@]}" >"$WORK/handwritten.json"
if cmp -s "$WORK/want.json" "$WORK/handwritten.json"; then
    SAME=identical
    log "outputs identical ($(grep -c '"id":' "$WORK/want.json") items, $(wc -c <"$WORK/want.json") bytes)"
else
    SAME=DIFFERENT
    log "OUTPUTS DIFFER:"; diff "$WORK/want.json" "$WORK/handwritten.json" | head -20 >&2 || true
fi

# --- measure, interleaved ----------------------------------------------------------------------
interleave weft FLOW_CMD handwritten HAND_CMD

for who in weft handwritten; do
    eval "${who}_wall=$(col $who 1) ${who}_user=$(col $who 2) ${who}_sys=$(col $who 3) ${who}_cpu=$(cpu $who) ${who}_rss=$(col $who 4)"
done
R_WALL=$(ratio "$weft_wall" "$handwritten_wall")
R_CPU=$(ratio "$weft_cpu" "$handwritten_cpu")
R_RSS=$(ratio "$weft_rss" "$handwritten_rss")

echo
echo "calendar flow vs hand-written: $PAGE_COUNT pages of $PAGE_SIZE ($ITEMS items), ${LATENCY_MS} ms upstream, median of $RUNS interleaved runs"
echo "window: $FROM .. $TO, user $USER_UPN; machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
printf '%-12s %9s %9s %9s %9s %12s\n' "" "wall s" "user s" "sys s" "CPU s" "peak RSS KiB"
printf '%-12s %9s %9s %9s %9s %12s\n' "weft run" "$weft_wall" "$weft_user" "$weft_sys" "$weft_cpu" "$weft_rss"
printf '%-12s %9s %9s %9s %9s %12s\n' "hand-written" "$handwritten_wall" "$handwritten_user" "$handwritten_sys" "$handwritten_cpu" "$handwritten_rss"
printf '%-12s %9s %9s %9s %9s %12s\n' "ratio" "${R_WALL}x" "" "" "${R_CPU}x" "${R_RSS}x"
echo "targets: wall <= 1.05x $(verdict "$R_WALL" 1.05); CPU <= 2x $(verdict "$R_CPU" 2); peak memory <= 2x $(verdict "$R_RSS" 2); outputs $SAME"
echo "SUMMARY calendar-vs-handwritten: $PAGE_COUNT pages/${LATENCY_MS}ms, median of $RUNS: wall ${weft_wall}s vs ${handwritten_wall}s = ${R_WALL}x ($(verdict "$R_WALL" 1.05)), CPU ${weft_cpu}s vs ${handwritten_cpu}s = ${R_CPU}x ($(verdict "$R_CPU" 2)), peak RSS ${weft_rss} vs ${handwritten_rss} KiB = ${R_RSS}x ($(verdict "$R_RSS" 2)), outputs $SAME"
[ "$SAME" = identical ]
