#!/usr/bin/env bash
# The proxy against nginx on loopback, side by side in one run (issue 20):
#
#   (n) wrk -> nginx answering a fixed chat completion directly,
#   (b) wrk -> the bare pass-through hyper proxy (no layers) -> nginx,
#   (h) wrk -> llm-layers-proxy, default stack, hits (one request repeated),
#   (m) wrk -> llm-layers-proxy, default stack, misses (every body unique),
#   then a fixed 5,000 hits per second against the proxy (open loop),
#   then a fixed 10,000 misses per second through each proxy in turn (its
#   CPU per miss when both do the same work).
#
# Prints requests per second, wrk's p99, and each proxy's CPU time per
# request (utime + stime from /proc, so only that process's work), then the
# two ratios issue 20 sets targets on: hits / nginx-direct requests per
# second, and the full proxy's CPU per miss / the bare proxy's per request.
#
#   scripts/bench-vs-nginx.sh            # 10 s per scenario, 1 round
#   DURATION=5 ROUNDS=3 scripts/bench-vs-nginx.sh
#   PERF_MISSES=/tmp/misses.data scripts/bench-vs-nginx.sh   # perf record the proxy on misses
#   PERF_HITS=/tmp/hits.data scripts/bench-vs-nginx.sh       # ... on hits
#
# Each server gets WORKERS threads (default 1, as nginx gets one worker
# process): wrk, nginx and the proxy share the machine's cores, and a
# second worker per proxy is preempted by wrk or nginx at nearly every
# wake-up (BENCHMARKS.md has both).
#
#   WORKERS=2 scripts/bench-vs-nginx.sh  # tokio's default on 2 cores
#
# Needs nginx and wrk (Debian: apt-get install -y nginx wrk). Everything
# listens on 127.0.0.1 and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-1}"
CONNECTIONS="${CONNECTIONS:-32}"
RATE="${RATE:-5000}"
MISS_RATE="${MISS_RATE:-10000}"
WORKERS="${WORKERS:-1}"
. scripts/lib/loopback.sh
require nginx wrk

CARGO_INCREMENTAL=0 cargo build -q --release -p llm-layers-proxy --bin llm-layers-proxy \
    --example bare_proxy --example fixed_rate

# A process's user and system CPU ticks so far ("user sys").
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }
# CPU per request between two cpu_ticks readings: "total (user+sys)" in µs.
cpu_per_request() {
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$ticks_per_second" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        u = (y[1] - x[1]) / hz * 1e6 / n; s = (y[2] - x[2]) / hz * 1e6 / n;
        printf "%.1f (%.1f+%.1f)", u + s, u, s }'
}
ticks_per_second="$(getconf CLK_TCK)"

write_chat_template "$work/template.json"
printf "$(cat "$work/template.json")" "hit" > "$work/hit.json"
echo "request body: $(wc -c < "$work/hit.json") bytes; answer: ${#BENCH_ANSWER} bytes"

start_nginx "$BENCH_ANSWER"
bare_port="$(free_port)"; proxy_port="$(free_port)"
TOKIO_WORKER_THREADS="$WORKERS" target/release/examples/bare_proxy "127.0.0.1:$bare_port" \
    "http://127.0.0.1:$nginx_port" >/dev/null &
bare_pid=$!; pids+=($bare_pid)
RUST_LOG=warn target/release/llm-layers-proxy --listen "127.0.0.1:$proxy_port" \
    --upstream "http://127.0.0.1:$nginx_port" --worker-threads "$WORKERS" >/dev/null &
proxy_pid=$!; pids+=($proxy_pid)
wait_port "$bare_port"; wait_port "$proxy_port"

write_wrk_script "$work/hits.lua" "$work/template.json" hits
write_wrk_script "$work/misses.lua" "$work/template.json" misses

# wrk against a URL; sets rps, p99_ms, requests; cpu_us per request of $2
# (a pid) if given, as "total (user+sys)".
run_wrk() {
    local url="$1" pid="${2:-}" script="$3" before=0 after out
    [ -n "$pid" ] && before="$(cpu_ticks "$pid")"
    out="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "$url")"
    [ -n "$pid" ] && after="$(cpu_ticks "$pid")"
    requests="$(echo "$out" | awk '/requests in/ {print $1}')"
    rps="$(echo "$out" | awk '/Requests\/sec/ {print $2}')"
    p99_ms="$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}')"
    errors="$(echo "$out" | awk '/Non-2xx|Socket errors/' | tr '\n' ' ')"
    cpu_us="-"
    [ -n "$pid" ] && cpu_us="$(cpu_per_request "$before" "$after" "$requests")"
    if [ -n "$errors" ]; then echo "  !! $url: $errors"; fi
}

# perf record of the proxy for the next DURATION seconds, into $1 (none if empty).
perf_pid=""
perf_start() {
    [ -z "$1" ] && return 0
    perf record -q -F 1999 ${PERF_CALL_GRAPH:+--call-graph "$PERF_CALL_GRAPH"} -p "$proxy_pid" -o "$1" -- sleep "$DURATION" &
    perf_pid=$!
}
perf_wait() {
    if [ -n "$perf_pid" ]; then wait "$perf_pid"; perf_pid=""; fi
}

# Warm: the proxy's pools and the hit's cache entry.
wrk -t1 -c"$CONNECTIONS" -d1s -s "$work/hits.lua" "http://127.0.0.1:$proxy_port/v1/chat/completions" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d1s -s "$work/hits.lua" "http://127.0.0.1:$bare_port/v1/chat/completions" >/dev/null

printf '\nwrk -t1 -c%s -d%ss, %s round(s), %s worker thread(s) per proxy\n' "$CONNECTIONS" "$DURATION" "$ROUNDS" "$WORKERS"
printf '%-6s %-34s %12s %10s %22s\n' round scenario "requests/s" "p99 ms" "CPU us/req (user+sys)"
for round in $(seq 1 "$ROUNDS"); do
    run_wrk "http://127.0.0.1:$nginx_port/v1/chat/completions" "" "$work/hits.lua"
    n_rps=$rps
    printf '%-6s %-34s %12s %10s %22s\n' "$round" "(n) nginx direct" "$rps" "$p99_ms" "$cpu_us"
    run_wrk "http://127.0.0.1:$bare_port/v1/chat/completions" "$bare_pid" "$work/misses.lua"
    b_cpu=$cpu_us
    printf '%-6s %-34s %12s %10s %22s\n' "$round" "(b) bare hyper proxy -> nginx" "$rps" "$p99_ms" "$cpu_us"
    perf_start "${PERF_HITS:-}"
    run_wrk "http://127.0.0.1:$proxy_port/v1/chat/completions" "$proxy_pid" "$work/hits.lua"
    h_rps=$rps
    perf_wait
    printf '%-6s %-34s %12s %10s %22s\n' "$round" "(h) llm-layers-proxy, hits" "$rps" "$p99_ms" "$cpu_us"
    perf_start "${PERF_MISSES:-}"
    run_wrk "http://127.0.0.1:$proxy_port/v1/chat/completions" "$proxy_pid" "$work/misses.lua"
    m_cpu=$cpu_us
    perf_wait
    printf '%-6s %-34s %12s %10s %22s\n' "$round" "(m) llm-layers-proxy, misses" "$rps" "$p99_ms" "$cpu_us"
    awk -v h="$h_rps" -v n="$n_rps" -v m="${m_cpu%% *}" -v b="${b_cpu%% *}" 'BEGIN {
        printf "       hits / nginx direct: %.2f (target >= 0.60); CPU per miss / bare proxy: %.2f (target <= 1.50)\n", h / n, m / b }'
done

printf '\nopen loop, %s hits per second for %s s against the proxy:\n' "$RATE" "$DURATION"
target/release/examples/fixed_rate "http://127.0.0.1:$proxy_port/v1/chat/completions" "$RATE" "$DURATION" "$work/hit.json" || true

# The same misses at the same rate through each proxy: the CPU each spends
# per miss when both do the same work (at saturation above, the faster one
# also gets its neighbours' wake-ups cheaper).
printf '\nequal load, %s misses per second for %s s through each proxy:\n' "$MISS_RATE" "$DURATION"
sustained=yes
for which in bare full; do
    pid=$bare_pid; port=$bare_port
    [ "$which" = full ] && { pid=$proxy_pid; port=$proxy_port; }
    printf "$(cat "$work/template.json")" "equal-$which-$(date +%s%N)-%s" > "$work/equal.json"
    before="$(cpu_ticks "$pid")"
    if out="$(target/release/examples/fixed_rate "http://127.0.0.1:$port/v1/chat/completions" "$MISS_RATE" "$DURATION" "$work/equal.json")"; then
        after="$(cpu_ticks "$pid")"
        requests=$((MISS_RATE * DURATION + 32))
        cpu="$(cpu_per_request "$before" "$after" "$requests")"
    else
        # Fewer requests were made than the rate asks: no figure per miss.
        sustained=no; cpu="-"
    fi
    printf '%-6s CPU %s us per miss; %s\n' "$which" "$cpu" "$out"
    [ "$which" = bare ] && equal_bare=${cpu%% *} || equal_full=${cpu%% *}
done
if [ "$sustained" = yes ]; then
    awk -v m="$equal_full" -v b="$equal_bare" 'BEGIN {printf "       CPU per miss / bare proxy at equal load: %.2f (target <= 1.50)\n", m / b}'
else
    echo "       no equal-load ratio: a proxy did not keep up with $MISS_RATE misses per second (try a lower MISS_RATE)"
fi
