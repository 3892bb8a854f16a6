#!/usr/bin/env bash
# The proxy's memory (issue 20): resident set size idle after start, then
# after 100,000 different requests whose answers (about 4 KB each) are all
# cached under a 64 MiB bound, the answers coming from nginx on loopback.
#
#   scripts/bench-memory.sh                 # 100,000 requests at 10,000/s
#   REQUESTS=200000 RATE=20000 scripts/bench-memory.sh
#
# Needs nginx (Debian: apt-get install -y nginx). Prints VmRSS and VmHWM
# (the peak) from /proc, and the cache's entries and bytes from /stats.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${REQUESTS:-100000}"
RATE="${RATE:-10000}"
MAX_BYTES="${MAX_BYTES:-67108864}"
. scripts/lib/loopback.sh
require nginx

CARGO_INCREMENTAL=0 cargo build -q --release -p llm-layers-proxy --bin llm-layers-proxy --example fixed_rate

rss() { awk -v key="$2:" '$1 == key {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status"; }

# A chat completion of about 4 KB.
text="$(printf 'The cached answer repeats this sentence to weigh four kilobytes. %.0s' $(seq 1 58))"
answer="{\"id\":\"chatcmpl-memory\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"$text\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":900,\"total_tokens\":920}}"
printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"memory request %%s"}]}' > "$work/request.json"

start_nginx "$answer"
proxy_port="$(free_port)"
cat > "$work/proxy.toml" <<CONF
listen = "127.0.0.1:$proxy_port"
upstream = "http://127.0.0.1:$nginx_port"
[cache]
max_bytes = $MAX_BYTES
CONF
RUST_LOG=warn target/release/llm-layers-proxy --config "$work/proxy.toml" >/dev/null 2>&1 &
proxy_pid=$!; pids+=($proxy_pid)
wait_port "$proxy_port"
sleep 1
echo "answer: ${#answer} bytes; cache bound: $MAX_BYTES bytes"
echo "idle after start:       VmRSS $(rss "$proxy_pid" VmRSS)"
target/release/examples/fixed_rate "http://127.0.0.1:$proxy_port/v1/chat/completions" "$RATE" \
    "$((REQUESTS / RATE))" "$work/request.json"
sleep 1
echo "after $REQUESTS misses:  VmRSS $(rss "$proxy_pid" VmRSS), peak VmHWM $(rss "$proxy_pid" VmHWM)"
sleep "${SETTLE:-15}"
echo "${SETTLE:-15} s later:           VmRSS $(rss "$proxy_pid" VmRSS)"
curl -s "http://127.0.0.1:$proxy_port/stats" | python3 -c '
import json, sys
cache = json.load(sys.stdin)["cache"]
store = cache["store"]
print("cache: %d entries, %.1f MiB held, %d evicted for size, %d stored, %d refused by the admission policy" % (store["entries"], store["bytes"] / 1048576, store["evicted_size"], cache["stores"], cache["store_refused"]))'
