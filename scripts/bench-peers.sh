#!/usr/bin/env bash
# Runs `cirrus bench` workloads against Cirrus and its peers, one server at a time on
# core 0 and the generator on core 1, and prints each run's result line.
# Needs: a release build (`cargo build --release --bin cirrus --example bare_axum`),
# `dynoxide` (cargo install dynoxide-rs), dynalite (npm) in $DYNALITE, moto_server (pip).
set -uo pipefail
source "$(dirname "$0")/bench-common.sh"
DYNALITE="${DYNALITE:-dynalite}"
PORT=8700

run_server() {
    local name=$1; shift
    taskset -c 0 "$@" > "$work/$name.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_port "$PORT"
    local bench=(taskset -c 1 "$CIRRUS" bench --endpoint "http://127.0.0.1:$PORT"
        --records "$RECORDS" --concurrency "$CONCURRENCY" --server-pid "$pid")
    if [ "$name" = "bare-axum" ]; then
        echo "== $name"; "${bench[@]}" --workload c --duration "$DURATION" 2>/dev/null | head -1
    else
        echo "== $name"
        bench_workloads "${bench[@]}"
    fi
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    PORT=$((PORT + 1))
}

run_server bare-axum "$TARGET/examples/bare_axum" "127.0.0.1:$PORT"
run_server cirrus "$CIRRUS" serve --listen "127.0.0.1:$PORT" --data-dir "$work/cirrus" --no-throttle
run_server dynoxide dynoxide serve --port "$PORT" --db-path "$work/dynoxide.db"
run_server dynalite "$DYNALITE" --port "$PORT" --path "$work/dynalite" --createTableMs 0
run_server moto moto_server -p "$PORT"
