# Shared by the bench/ scripts (sourced, not run). Needs WEFT, WORK, LATENCY_MS and log().

# Starts `weft sim` with a fixed upstream latency on a free port and waits for its address:
# sets SIM (its base URL) and SIM_PID, and exports what flows/profiles.sim.json reads.
start_sim() {
    # No per-mailbox limit: the load generators put 32 requests at once on one mailbox, which
    # Outlook would throttle (4 per app and mailbox); the benchmarks measure the engines.
    "$WEFT" sim --port 0 --latency-ms "$LATENCY_MS" --mailbox-concurrency 0 >"$WORK/sim.log" 2>&1 &
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
