#!/usr/bin/env bash
# A fan-out over many mailboxes: bench/weft-fanout/fanout.flow.json (a `call` node running
# flows/user-calendar.flow.json once per user, 32 at a time, `weft run`) against a hand-written
# tokio program doing the same requests with the same concurrency (examples/fanout_handwritten.rs),
# over USERS generated users of `weft sim` with Outlook's limit of 4 requests in flight per
# mailbox kept, and a fixed upstream latency so that the work, not start-up, dominates.
#
# Both are run interleaved RUNS times; each run's wall and CPU time come from GNU time, its
# peak anonymous memory (RssAnon, not binary pages) from /proc/PID/status sampled every 20 ms.
# The script prints the medians and the ratios against the targets (wall <= 1.10x, CPU <= 2x,
# RssAnon <= 2x) and ends with one summary line. Both outputs are checked to be byte-identical.
#
# Environment: RUNS (default 3), USERS (3000), LATENCY_MS (20), PAGE_SIZE (20: about two pages
# a user for a week), NO_BUILD=1 to use the binaries already built.
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
RUNS=${RUNS:-3}
USERS=${USERS:-3000}
LATENCY_MS=${LATENCY_MS:-20}
PAGE_SIZE=${PAGE_SIZE:-20}

prepare fanout_handwritten
make_work fanout

SIM_ARGS="--users $USERS --span-days 14" start_sim
FROM=$(date -u -d "$(date -u +%F) - $(( $(date -u +%u) - 1 )) days" +%Y-%m-%dT00:00:00Z)
TO=$(date -u -d "${FROM%T*} + 7 days" +%Y-%m-%dT00:00:00Z)
python3 - "$USERS" "$SIM" "$FROM" "$TO" "$PAGE_SIZE" >"$WORK/params.json" <<'PY'
import json, sys
n, sim, start, end, size = sys.argv[1:]
users = [f"user{i:04}@weft.test" for i in range(1, int(n) + 1)]
print(json.dumps({"graph_base": f"{sim}/v1.0", "users": users, "from": start, "to": end, "page_size": int(size)}))
PY
WEFT_CMD=("$WEFT" run bench/weft-fanout/fanout.flow.json --profiles flows/profiles.sim.json
    --params "$WORK/params.json" --state-dir "$WORK/state" --max-steps 100000 --quiet)
HAND_CMD=("$HANDWRITTEN" "$SIM" "$WORK/params.json" "$FROM" "$TO" "$PAGE_SIZE" 32)

log "warm-up (the simulator generates each user's calendar on first use)"
"${WEFT_CMD[@]}" >"$WORK/want.json"
"${HAND_CMD[@]}" >"$WORK/hand.json"
SAME=identical
cmp -s "$WORK/want.json" "$WORK/hand.json" || { SAME=DIFFERENT; log "OUTPUTS DIFFER"; }

# As lib.sh's measure, with the peak anonymous memory instead of GNU time's peak RSS.
measure_anon() { # NAME cmd… ; appends "wall user sys rssanon_kib" to $WORK/NAME.times
    local name=$1 pid child peak=0 rss
    shift
    /usr/bin/time -f '%e %U %S' -o "$WORK/one.time" "$@" >"$WORK/$name.out" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        child=$(pgrep -P "$pid" | head -1 || true)
        if [ -n "$child" ]; then
            rss=$(awk '/^RssAnon:/ { print $2 }' "/proc/$child/status" 2>/dev/null || echo 0)
            [ "${rss:-0}" -gt "$peak" ] && peak=$rss
        fi
        sleep 0.02
    done
    wait "$pid"
    cmp -s "$WORK/$name.out" "$WORK/want.json" || SAME=DIFFERENT
    echo "$(cat "$WORK/one.time") $peak" >>"$WORK/$name.times"
    log "  $name: $(tail -1 "$WORK/$name.times")"
}
MEASURE=measure_anon interleave weft WEFT_CMD handwritten HAND_CMD

for who in weft handwritten; do
    eval "${who}_wall=$(col $who 1) ${who}_cpu=$(cpu $who) ${who}_anon=$(col $who 4)"
done
R_WALL=$(ratio "$weft_wall" "$handwritten_wall")
R_CPU=$(ratio "$weft_cpu" "$handwritten_cpu")
R_ANON=$(ratio "$weft_anon" "$handwritten_anon")
ITEMS=$(grep -c '"id":' "$WORK/want.json" || true)

echo
echo "fan-out vs hand-written: $USERS users, $ITEMS items, pages of $PAGE_SIZE, concurrency 32, ${LATENCY_MS} ms upstream, 4 per mailbox, median of $RUNS interleaved runs"
printf '%-12s %9s %9s %14s\n' "" "wall s" "CPU s" "RssAnon KiB"
printf '%-12s %9s %9s %14s\n' "weft run" "$weft_wall" "$weft_cpu" "$weft_anon"
printf '%-12s %9s %9s %14s\n' "hand-written" "$handwritten_wall" "$handwritten_cpu" "$handwritten_anon"
printf '%-12s %9s %9s %14s\n' "ratio" "${R_WALL}x" "${R_CPU}x" "${R_ANON}x"
echo "SUMMARY fanout-vs-handwritten: $USERS users/${LATENCY_MS}ms, median of $RUNS: wall ${weft_wall}s vs ${handwritten_wall}s = ${R_WALL}x ($(verdict "$R_WALL" 1.10)), CPU ${weft_cpu}s vs ${handwritten_cpu}s = ${R_CPU}x ($(verdict "$R_CPU" 2)), RssAnon ${weft_anon} vs ${handwritten_anon} KiB = ${R_ANON}x ($(verdict "$R_ANON" 2)), outputs $SAME"
[ "$SAME" = identical ]
