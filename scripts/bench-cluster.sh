#!/usr/bin/env bash
# Runs `cirrus bench` workloads against the embedded single node and then against a
# three-node cluster on this machine (every process on loopback, sharing the machine's
# cores: this measures what replication costs, not how a cluster scales), and then times
# a failover: a write workload through node 1 while node 2 is killed with SIGKILL.
# Prints each run's result line and, for the failover, the seconds with errors.
# Needs a release build (`cargo build --release --bin cirrus`).
set -uo pipefail
source "$(dirname "$0")/bench-common.sh"
PARTITIONS=3

# bench ENDPOINT PID...: every workload against ENDPOINT, CPU counted for each PID.
bench() {
    local args=(--endpoint "$1" --records "$RECORDS" --concurrency "$CONCURRENCY")
    shift
    for pid in "$@"; do args+=(--server-pid "$pid"); done
    bench_workloads "$CIRRUS" bench "${args[@]}"
}

echo "== single node"
"$CIRRUS" serve --listen 127.0.0.1:8800 --data-dir "$work/single" --no-throttle \
    --partitions-per-table "$PARTITIONS" > "$work/single.log" 2>&1 &
single=$!
pids+=("$single")
wait_port 8800 && bench http://127.0.0.1:8800 "$single"
kill "$single"; wait "$single" 2>/dev/null

echo "== three-node cluster"
printf 'a secret the benchmark cluster shares' > "$work/secret"
members=(--member 1=127.0.0.1:8811 --member 2=127.0.0.1:8812 --member 3=127.0.0.1:8813)
start_node() {
    "$CIRRUS" serve --listen "127.0.0.1:882$1" --data-dir "$work/node$1" --no-throttle \
        --partitions-per-table "$PARTITIONS" --node-id "$1" --peer-listen "127.0.0.1:881$1" \
        --cluster-secret-file "$work/secret" "${members[@]}" >> "$work/node$1.log" 2>&1 &
    node_pids[$1]=$!
    pids+=("$!")
}
declare -a node_pids
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do wait_port "882$i" || exit 1; done
bench http://127.0.0.1:8821 "${node_pids[1]}" "${node_pids[2]}" "${node_pids[3]}"
"$CIRRUS" cluster status --endpoint http://127.0.0.1:8821

echo "== failover: node 2 killed 5 s into a write workload through node 1"
"$CIRRUS" bench --endpoint http://127.0.0.1:8821 --records "$RECORDS" \
    --concurrency "$CONCURRENCY" --workload w --duration 25 --timeline \
    > "$work/failover.out" 2> "$work/failover.timeline" &
bench_pid=$!
sleep 5
kill -9 "${node_pids[2]}"
wait "${node_pids[2]}" 2>/dev/null
wait "$bench_pid"
head -1 "$work/failover.out"
# The seconds in which some write failed: the partitions node 2 led were electing.
tr '\r' '\n' < "$work/failover.timeline" | grep -E '^\[' | grep -v ' 0 errors/s'
