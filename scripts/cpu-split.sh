#!/usr/bin/env bash
# Where a miss's CPU goes: the bare pass-through proxy and llm-layers-proxy
# (one worker each, the same nginx behind them) under wrk at saturation,
# every body unique, in alternating rounds; per request: user and system
# CPU time (utime and stime from /proc, every thread of the process), minor
# page faults, and context switches.
#
#   scripts/cpu-split.sh                          # the default stack
#   EXTRA="--no-cache" scripts/cpu-split.sh       # the proxy with flags
#   DURATION=6 ROUNDS=3 scripts/cpu-split.sh
#
# Needs nginx and wrk. Everything listens on 127.0.0.1 and is stopped at
# the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-8}"
ROUNDS="${ROUNDS:-2}"
. scripts/lib/loopback.sh
require nginx wrk
CARGO_INCREMENTAL=0 cargo build -q --release -p llm-layers-proxy --bin llm-layers-proxy --example bare_proxy
write_chat_template "$work/template.json"
write_wrk_script "$work/misses.lua" "$work/template.json" misses
start_nginx "$BENCH_ANSWER"
bare_port="$(free_port)"; proxy_port="$(free_port)"
TOKIO_WORKER_THREADS=1 target/release/examples/bare_proxy "127.0.0.1:$bare_port" \
    "http://127.0.0.1:$nginx_port" >/dev/null &
bare_pid=$!; pids+=($bare_pid)
# shellcheck disable=SC2086 # EXTRA is a list of flags
RUST_LOG=warn target/release/llm-layers-proxy --listen "127.0.0.1:$proxy_port" \
    --upstream "http://127.0.0.1:$nginx_port" --worker-threads 1 ${EXTRA:-} >/dev/null 2>&1 &
proxy_pid=$!; pids+=($proxy_pid)
wait_port "$bare_port"; wait_port "$proxy_port"
hz="$(getconf CLK_TCK)"

# "utime stime minflt voluntary nonvoluntary" of a process, all its threads.
snapshot() {
    local pid="$1" task voluntary=0 nonvoluntary=0
    for task in /proc/"$pid"/task/*; do
        voluntary=$((voluntary + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$task/status")))
        nonvoluntary=$((nonvoluntary + $(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$task/status")))
    done
    echo "$(awk '{print $14, $15, $10}' "/proc/$pid/stat") $voluntary $nonvoluntary"
}

measure() {
    local name="$1" pid="$2" port="$3" before after requests
    local url="http://127.0.0.1:$port/v1/chat/completions"
    wrk -t1 -c32 -d2s -s "$work/misses.lua" "$url" >/dev/null
    before="$(snapshot "$pid")"
    requests="$(wrk -t1 -c32 -d"${DURATION}s" -s "$work/misses.lua" "$url" | awk '/requests in/ {print $1}')"
    after="$(snapshot "$pid")"
    awk -v a="$before" -v b="$after" -v n="$requests" -v name="$name" -v hz="$hz" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        printf "%-6s %8d misses  user %6.1f us  sys %6.1f us  page faults %.3f  switches %.3f + %.3f per miss\n",
            name, n, (y[1] - x[1]) / hz * 1e6 / n, (y[2] - x[2]) / hz * 1e6 / n,
            (y[3] - x[3]) / n, (y[4] - x[4]) / n, (y[5] - x[5]) / n }'
}

echo "wrk -t1 -c32 -d${DURATION}s, every body unique; proxy flags: ${EXTRA:-(none)}"
for _ in $(seq 1 "$ROUNDS"); do
    measure bare "$bare_pid" "$bare_port"
    measure proxy "$proxy_pid" "$proxy_port"
done
