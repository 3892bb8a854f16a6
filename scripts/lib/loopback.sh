# Shared by the benchmark scripts (sourced, not run): a work directory and
# processes removed at exit, free loopback ports, and nginx answering a
# fixed body.

# Tools the calling script needs, or a one-line hint and exit 2.
require() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install -y $*)"; exit 2; }
    done
}

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (up to 60 s: a process under valgrind starts slowly) for a listener.
wait_port() {
    for _ in $(seq 1 1200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1"; exit 1
}

# The usual upstream answer: a chat completion with usage, 593 bytes.
BENCH_ANSWER='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"This is a fixed answer from nginx, standing in for the provider so that the proxy and not the upstream is what the benchmark measures.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":290,"completion_tokens":28,"total_tokens":318,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}},"system_fingerprint":"fp_bench"}'

# Writes the usual request, a 1,205-byte chat body with `%s` where a
# request's own text goes, to $1.
write_chat_template() {
    local system_prompt
    system_prompt="You are a careful assistant for a bookshop. $(printf 'Answer politely and briefly, quote prices in euros, and never invent a title. %.0s' $(seq 1 13))"
    printf '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"%s"},{"role":"user","content":"Which of your novels are set in Lisbon? request %%s"}]}' \
        "$system_prompt" > "$1"
}

# Starts nginx (NGINX_WORKERS workers, default 1) answering every request
# with $1 as JSON; sets nginx_port.
start_nginx() {
    local answer="$1"
    nginx_port="$(free_port)"
    mkdir -p "$work/nginx"
    cat > "$work/nginx.conf" <<CONF
worker_processes ${NGINX_WORKERS:-1};
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            default_type application/json;
            return 200 '$answer';
        }
    }
}
CONF
    nginx -c "$work/nginx.conf" -p "$work/nginx" 2>"$work/nginx/stderr" &
    pids+=($!)
    wait_port "$nginx_port"
}

# Writes a wrk script to $1 posting the chat template $2 (see
# write_chat_template): with $3 = hits, one fixed body (the text "hit");
# with $3 = misses, every request's text unique to this run.
write_wrk_script() {
    local file="$1" template="$2" mode="$3"
    cat > "$file" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
local file = io.open("$template", "rb")
local template = file:read("*a")
file:close()
if "$mode" == "hits" then
    wrk.body = string.format(template, "hit")
else
    local run = tostring(os.time()) .. "-" .. tostring(math.random(1000000000))
    local counter = 0
    request = function()
        counter = counter + 1
        return wrk.format(nil, nil, nil, string.format(template, run .. "-" .. counter))
    end
end
LUA
}
