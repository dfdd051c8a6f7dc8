# Shared by the bench/ scripts (sourced from the repository's root, not run): sets ROOT and
# log(). The simulator needs WEFT, WORK and LATENCY_MS; the measurements WORK and RUNS.

ROOT=$PWD

# A line on stderr: stdout is left to the script's table.
log() { printf '%s\n' "$*" >&2; }

# apt-get install, quietly, updating the package lists first when the packages are not found.
apt_install() {
    local sudo=
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y "$@" >/dev/null 2>&1 || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$@" >/dev/null; }
}

# Starts `weft sim` with a fixed upstream latency on a free port and waits for its address:
# sets SIM (its base URL) and SIM_PID, and exports what flows/profiles.sim.json reads.
start_sim() {
    # No per-mailbox limit: the load generators put 32 requests at once on one mailbox, which
    # Outlook would throttle (4 per app and mailbox); the benchmarks measure the engines.
    # SIM_ARGS replaces that, e.g. many mailboxes with Outlook's limit kept.
    # shellcheck disable=SC2086
    "$WEFT" sim --port 0 --quiet --latency-ms "$LATENCY_MS" ${SIM_ARGS:---mailbox-concurrency 0} >"$WORK/sim.log" 2>&1 &
    SIM_PID=$!
    SIM=
    for _ in $(seq 1 100); do
        SIM=$(sed -n 's/^Entra ID + Graph simulator on \(http:[^ ]*\).*/\1/p' "$WORK/sim.log")
        [ -n "$SIM" ] && break
        sleep 0.05
    done
    [ -n "$SIM" ] || { cat "$WORK/sim.log" >&2; log "the simulator did not start"; exit 1; }
    export WEFT_SIM_URL=$SIM WEFT_SIM_SECRET=sim-app-secret
    log "simulator at $SIM, latency ${LATENCY_MS} ms"
}

# Finds a window of PAGES pages of PAGE_SIZE items in USER_UPN's calendar, counting with the
# hand-written program ($HANDWRITTEN) against $SIM: sets FROM, TO, ITEMS and PAGE_COUNT.
find_window() {
    # Calendars span 730 days either side of the simulator's start; the window starts 700 days back
    # and its end is searched (to the minute) so that the item count gives exactly PAGES pages.
    FROM_EPOCH=$(date -u -d "$(date -u +%F) - 700 days" +%s)
    iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
    FROM=$(iso "$FROM_EPOCH")
    count() { # items in [FROM, FROM + $1 minutes)
        "$HANDWRITTEN" "$SIM" "$USER_UPN" "$FROM" "$(iso $((FROM_EPOCH + $1 * 60)))" 1000 | grep -c '"id":' || true
    }
    WANT_MAX=$((PAGES * PAGE_SIZE))
    WANT_MIN=$(((PAGES - 1) * PAGE_SIZE + 1))
    lo=0 hi=$((1400 * 1440))
    while [ $((hi - lo)) -gt 1 ]; do # smallest end with count >= WANT_MAX is hi
        mid=$(((lo + hi) / 2))
        if [ "$(count $mid)" -ge "$WANT_MAX" ]; then hi=$mid; else lo=$mid; fi
    done
    END_MIN=$hi
    ITEMS=$(count $END_MIN)
    if [ "$ITEMS" -gt "$WANT_MAX" ]; then END_MIN=$lo; ITEMS=$(count $END_MIN); fi
    if [ "$ITEMS" -lt "$WANT_MIN" ] || [ "$ITEMS" -gt "$WANT_MAX" ]; then
        log "no window gives $PAGES pages of $PAGE_SIZE (got $ITEMS items)"; exit 1
    fi
    TO=$(iso $((FROM_EPOCH + END_MIN * 60)))
    PAGE_COUNT=$(((ITEMS + PAGE_SIZE - 1) / PAGE_SIZE))
    log "window $FROM .. $TO: $ITEMS items, $PAGE_COUNT pages of $PAGE_SIZE"
}

# The median of the numbers on stdin.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# Column $2 of $WORK/$1.times (one measurement a line), its median.
col() { awk -v c="$2" '{ print $c }' "$WORK/$1.times" | median; }
# User plus system CPU (columns 2 and 3) of $WORK/$1.times, its median.
cpu() { awk '{ print $2 + $3 }' "$WORK/$1.times" | median; }
# $1 / $2 to two decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# "met" when the ratio $1 is at most the target $2, else "MISSED".
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t) ? "met" : "MISSED" }'; }

# The `weft` binary and the hand-written example $1 (release, or PROFILE), built unless
# NO_BUILD=1: sets TARGET (where cargo puts them), WEFT and HANDWRITTEN.
build() {
    TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/${PROFILE:-release}
    WEFT=$TARGET/weft
    HANDWRITTEN=$TARGET/examples/$1
    if [ "${NO_BUILD:-0}" != 1 ]; then
        log "building (release): weft and examples/$1"
        # Two builds: an example builds with the dev-dependencies, whose features (wiremock's
        # HTTP/2 server) would otherwise be compiled into the `weft` binary measured too.
        cargo build --profile "${PROFILE:-release}" --quiet --bin weft
        cargo build --profile "${PROFILE:-release}" --quiet --example "$1"
    fi
}

# What the timing scripts need: GNU time (installed when missing) and `build $1`.
prepare() {
    [ -x /usr/bin/time ] || { log "installing GNU time"; apt_install time; }
    build "$1"
}

# Runs cmd… once under GNU time: appends "wall-s user-s sys-s peak-RSS-KiB" to $WORK/NAME.times
# and sets SAME=DIFFERENT when what it prints is not $WORK/want.json.
measure() { # NAME cmd…
    local name=$1
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/one.time" "$@" >"$WORK/$name.out"
    cmp -s "$WORK/$name.out" "$WORK/want.json" || SAME=DIFFERENT
    cat "$WORK/one.time" >>"$WORK/$name.times"
    log "  $name: $(cat "$WORK/one.time")"
}

# RUNS rounds of `measure NAME_A cmd…` and `measure NAME_B cmd…`, the commands held in the
# arrays named ARRAY_A and ARRAY_B; the order alternates, so that a host whose speed drifts
# (other jobs on it) weighs on both alike. MEASURE names another function to measure with.
interleave() { # NAME_A ARRAY_A NAME_B ARRAY_B
    local -n cmd_a=$2 cmd_b=$4
    local how=${MEASURE:-measure} i
    for i in $(seq 1 "$RUNS"); do
        log "run $i/$RUNS"
        if [ $((i % 2)) -eq 1 ]; then
            "$how" "$1" "${cmd_a[@]}"; "$how" "$3" "${cmd_b[@]}"
        else
            "$how" "$3" "${cmd_b[@]}"; "$how" "$1" "${cmd_a[@]}"
        fi
    done
}

# A fresh work directory under target/bench/ named after $1 (sets WORK), removed at exit
# together with the simulator start_sim starts.
make_work() {
    mkdir -p "$ROOT/target/bench"
    WORK=$(mktemp -d "$ROOT/target/bench/$1.XXXXXX")
    SIM_PID=
    trap 'if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
}
