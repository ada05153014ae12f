# Sourced by the benchmark scripts: the release binary, the run's settings (each
# overridable from the environment), a scratch directory removed on exit, and helpers
# to wait for a port and to run every workload against one endpoint.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TARGET="${CARGO_TARGET_DIR:-$HOME/.cache/cirrus-target}/release"
CIRRUS="${CIRRUS:-$TARGET/cirrus}"
DURATION="${DURATION:-8}"
RECORDS="${RECORDS:-10000}"
CONCURRENCY="${CONCURRENCY:-64}"
WORKLOADS="${WORKLOADS:-c w q a}"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# wait_port PORT: until something accepts connections on 127.0.0.1:PORT (30 s at most).
wait_port() {
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# bench_workloads BENCH...: the load, then every workload, with the `cirrus bench`
# command line BENCH (endpoint, records, concurrency, server pids).
bench_workloads() {
    "$@" --workload load 2>/dev/null | head -1
    for w in $WORKLOADS; do
        "$@" --workload "$w" --duration "$DURATION" 2>/dev/null | head -1
    done
}
