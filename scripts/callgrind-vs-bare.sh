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
#
# Leaves the profiles in target/callgrind/{bare,full}-{misses,hits}.out for
# callgrind_annotate. Needs nginx, wrk and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-misses}"
COUNTED="${SECONDS_COUNTED:-10}"
for tool in nginx wrk valgrind; do
    command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y nginx wrk valgrind)"; exit 2; }
done
CARGO_INCREMENTAL=0 cargo build -q --release -p llm-layers-proxy --bin llm-layers-proxy --example bare_proxy
mkdir -p target/callgrind
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1"; exit 1
}

answer='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"This is a fixed answer from nginx, standing in for the provider so that the proxy and not the upstream is what the benchmark measures.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":290,"completion_tokens":28,"total_tokens":318,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},"system_fingerprint":"fp_bench"}'
system_prompt="You are a careful assistant for a bookshop. $(printf 'Answer politely and briefly, quote prices in euros, and never invent a title. %.0s' $(seq 1 13))"
printf '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"%s"},{"role":"user","content":"Which of your novels are set in Lisbon? request %%s"}]}' \
    "$system_prompt" > "$work/template.json"
cat > "$work/load.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
local file = io.open("$work/template.json", "rb")
local template = file:read("*a")
file:close()
local unique = "$MODE" == "misses"
local run = tostring(os.time()) .. "-" .. tostring(math.random(1000000000))
local counter = 0
request = function()
    counter = counter + 1
    local id = unique and (run .. "-" .. counter) or "hit"
    return wrk.format(nil, nil, nil, string.format(template, id))
end
LUA

nginx_port="$(free_port)"
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $work/nginx/body;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { default_type application/json; return 200 '$answer'; }
    }
}
CONF
nginx -c "$work/nginx.conf" -p "$work/nginx" 2>"$work/nginx/stderr" &
pids+=($!)
wait_port "$nginx_port"

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
    printf '%-28s %8s requests %10.1f k instructions per request\n' "$name ($MODE)" "$requests" \
        "$(awk -v t="$total" -v n="$requests" 'BEGIN {print t / n / 1000}')"
}

measure bare target/release/examples/bare_proxy LISTEN UPSTREAM
measure full target/release/llm-layers-proxy --listen LISTEN --upstream UPSTREAM
