#!/usr/bin/env bash
# Two builds of `weft serve` on the page flow of serve-vs-nodered.sh, interleaved: A, B, A, B…
# each against the same simulator under the same wrk load (c=32). Per pair: requests/s and CPU
# per request of each; the ratios B/A pair by pair and their median, which a machine whose speed
# drifts during the run (other jobs on the host) affects far less than two separate runs.
#
#   bench/serve-ab.sh OLD_WEFT NEW_WEFT
#
# Build an older commit's binary with e.g.
#   git worktree add /tmp/old <commit> && (cd /tmp/old && cargo build --release --bin weft)
#
# The same binary twice with two flow directories compares two flows instead, e.g. the whole
# page flow against its fetch alone:
#   FLOWS_B=bench/weft-fetch-only bench/serve-ab.sh target/release/weft target/release/weft
#
# Which run store each server keeps: STORE_A and STORE_B, `none` (the default: nothing kept) or
# `sqlite` (a file of its own in the work directory: every run recorded, every step journaled).
# The same binary twice with two stores measures what the store costs:
#   STORE_B=sqlite bench/serve-ab.sh target/release/weft target/release/weft
#
# Environment: PAIRS (default 8), DURATION (s, 8), WARMUP (s, 3), LATENCY_MS (5), FLOWS_A and
# FLOWS_B (the directories served, each holding a page.flow.json; default bench/weft), STORE_A
# and STORE_B (none).
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
[ $# -eq 2 ] && [ -x "$1" ] && [ -x "$2" ] || {
    echo "usage: $0 OLD_WEFT NEW_WEFT (two weft binaries)" >&2
    exit 2
}
A=$1 B=$2
PAIRS=${PAIRS:-8}
DURATION=${DURATION:-8}
WARMUP=${WARMUP:-3}
LATENCY_MS=${LATENCY_MS:-5}
FLOWS_A=${FLOWS_A:-bench/weft}
FLOWS_B=${FLOWS_B:-bench/weft}
STORE_A=${STORE_A:-none}
STORE_B=${STORE_B:-none}
WEFT=$B # runs the simulator
command -v wrk >/dev/null || { log "needs wrk (Debian package wrk)"; exit 1; }

mkdir -p target/bench
WORK=$(mktemp -d "$PWD/target/bench/serve-ab.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
start_sim; PIDS+=("$SIM_PID")

FROM=$(date -u +%Y-%m-%dT00:00:00Z)
TO=$(date -u -d "$(date -u +%F) + 8 days" +%Y-%m-%dT00:00:00Z)
export BODY="{\"graph_base\":\"$SIM/v1.0\",\"user\":\"adele@weft.test\",\"from\":\"$FROM\",\"to\":\"$TO\",\"page_size\":25}"

# One measurement of the binary $1 serving the flows in $3 on port $2 with the store $4 (none or
# sqlite): "requests/s µs-CPU-per-request".
measure_serve() {
    local bin=$1 port=$2 flows=$3 store=$4 pid out requests before after
    [ "$store" = sqlite ] && store="sqlite:$WORK/state-$port/weft.db"
    "$bin" serve "$flows" --listen "127.0.0.1:$port" --profiles bench/weft/profiles.json \
        --state-dir "$WORK/state-$port" --store "$store" >"$WORK/serve-$port.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    local ready=
    for _ in $(seq 1 200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            -d "$BODY" "http://127.0.0.1:$port/runs/page" || true)" = 200 ] && { ready=1; break; }
        sleep 0.05
    done
    [ -n "$ready" ] || { cat "$WORK/serve-$port.log" >&2; log "$bin on $flows never answered 200"; kill "$pid"; exit 1; }
    wrk -t2 -c32 -d"${WARMUP}s" -s bench/wrk/post.lua "http://127.0.0.1:$port/runs/page" >/dev/null
    before=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    out=$(wrk -t2 -c32 -d"${DURATION}s" -s bench/wrk/post.lua "http://127.0.0.1:$port/runs/page")
    after=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    if echo "$out" | grep -qE 'Non-2xx|Socket errors'; then
        log "$bin on $flows: errors under load:"; echo "$out" >&2
    fi
    echo "$out" | awk -v d=$((after - before)) -v t="$(getconf CLK_TCK)" -v r="$requests" \
        '/^Requests\/sec/ { printf "%.0f %.0f\n", $2, d / t / r * 1e6 }'
}

PORT_A=$((41000 + RANDOM % 1000))
PORT_B=$((PORT_A + 1000))
printf '%4s %10s %10s %10s %10s %8s %8s\n' pair "A req/s" "A µs/req" "B req/s" "B µs/req" "rate B/A" "CPU B/A"
RATES=() CPUS=()
for i in $(seq 1 "$PAIRS"); do
    # Not in a subshell: the server it starts is in PIDS for cleanup, and its `exit` ends the script.
    measure_serve "$A" "$PORT_A" "$FLOWS_A" "$STORE_A" >"$WORK/a"; read -r a_rps a_cpu <"$WORK/a"
    measure_serve "$B" "$PORT_B" "$FLOWS_B" "$STORE_B" >"$WORK/b"; read -r b_rps b_cpu <"$WORK/b"
    rate=$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN { printf "%.2f", b / a }')
    cpu=$(awk -v a="$a_cpu" -v b="$b_cpu" 'BEGIN { printf "%.2f", b / a }')
    RATES+=("$rate") CPUS+=("$cpu")
    printf '%4s %10s %10s %10s %10s %8s %8s\n' "$i" "$a_rps" "$a_cpu" "$b_rps" "$b_cpu" "$rate" "$cpu"
done
median_of() { printf '%s\n' "$@" | median; }
echo "SUMMARY serve-ab: $PAIRS pairs, c=32, ${LATENCY_MS} ms upstream: median B/A rate $(median_of "${RATES[@]}"), median B/A CPU per request $(median_of "${CPUS[@]}") (A=$A on $FLOWS_A, store $STORE_A; B=$B on $FLOWS_B, store $STORE_B)"
