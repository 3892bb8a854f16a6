#!/usr/bin/env bash
# Instructions per request (callgrind: repeatable whatever else the shared
# machine does) of the bare pass-through hyper proxy and of
# llm-layers-proxy, each behind nginx answering a fixed chat completion,
# under wrk on loopback. Only the proxy runs under valgrind; counting is on
# for SECONDS of load after a 3 s warm-up (connections open, and for hits
# the answer cached).
#
#   scripts/callgrind-vs-bare.sh misses      # every body unique
#   scripts/callgrind-vs-bare.sh hits        # one body repeated
#   SECONDS_COUNTED=20 scripts/callgrind-vs-bare.sh misses
#   scripts/callgrind-vs-bare.sh floor       # the bare proxy's misses, and the
#                                            # work no miss can skip, counted alone
#
# Leaves the profiles in target/callgrind/{bare,full}-{misses,hits}.out for
# callgrind_annotate. Needs nginx, wrk and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-misses}"
COUNTED="${SECONDS_COUNTED:-10}"
. scripts/lib/loopback.sh
require nginx wrk valgrind
CARGO_INCREMENTAL=0 cargo build -q --release -p llm-layers-proxy --bin llm-layers-proxy --example bare_proxy
mkdir -p target/callgrind
write_chat_template "$work/template.json"
LOAD="$MODE"
[ "$MODE" = floor ] && LOAD=misses
write_wrk_script "$work/load.lua" "$work/template.json" "$LOAD"

start_nginx "$BENCH_ANSWER"

# Runs one proxy under callgrind; prints its instructions per request.
measure() {
    local name="$1"; shift
    local port; port="$(free_port)"
    local out="target/callgrind/$name-$MODE.out"
    local command=()
    for word in "$@"; do
        word="${word//LISTEN/127.0.0.1:$port}"
        command+=("${word//UPSTREAM/http://127.0.0.1:$nginx_port}")
    done
    RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
        "${command[@]}" >"$work/$name.log" 2>&1 &
    local pid=$!
    wait_port "$port"
    local url="http://127.0.0.1:$port/v1/chat/completions"
    wrk -t1 -c8 -d3s -s "$work/load.lua" "$url" >/dev/null
    callgrind_control -i on "$pid" >/dev/null 2>&1
    local requests
    requests="$(wrk -t1 -c8 -d"${COUNTED}s" -s "$work/load.lua" "$url" | awk '/requests in/ {print $1}')"
    callgrind_control -i off "$pid" >/dev/null 2>&1
    kill -INT "$pid"; wait "$pid" || true
    local total
    total="$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')"
    bare_k="$(awk -v t="$total" -v n="$requests" 'BEGIN {print t / n / 1000}')"
    printf '%-28s %8s requests %10.1f k instructions per request\n' "$name ($LOAD)" "$requests" "$bare_k"
}

# The parts of a miss's work that no arrangement of the layers skips
# (examples/miss_floor.rs in llm-layers-core), each counted alone on the
# same request and answer; with the bare proxy's count, the room 1.5x
# leaves for everything else.
floor() {
    CARGO_INCREMENTAL=0 cargo build -q --release -p llm-layers-core --example miss_floor
    printf '%s' "$BENCH_ANSWER" > "$work/answer.json"
    local out="target/callgrind/floor.out" iterations=2000
    valgrind --tool=callgrind --callgrind-out-file="$out" target/release/examples/miss_floor \
        "$work/template.json" "$work/answer.json" "$iterations" >"$work/floor.log" 2>&1
    local name per_call total=0
    for name in floor_request_facts floor_canonical_digest floor_answer_check; do
        per_call="$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null \
            | awk -v f="miss_floor::$name" -v n="$iterations" 'index($0, f) && !seen {gsub(",", "", $1); print $1 / n / 1000; seen = 1}')"
        printf '%-28s %10.1f k instructions per call\n' "$name" "$per_call"
        [ "$name" = floor_canonical_digest ] || total="$(awk -v a="$total" -v b="$per_call" 'BEGIN {print a + b}')"
    done
    awk -v b="$bare_k" -v f="$total" 'BEGIN {
        printf "bare proxy %.1f k + request facts and answer check %.1f k = %.1f k; 1.5 x bare = %.1f k\n", b, f, b + f, 1.5 * b }'
}

measure bare target/release/examples/bare_proxy LISTEN UPSTREAM
if [ "$MODE" = floor ]; then
    floor
else
    measure full target/release/llm-layers-proxy --listen LISTEN --upstream UPSTREAM
fi
