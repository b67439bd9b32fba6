#!/usr/bin/env bash
# Load benchmark of the chat streaming path: a release server on SQLite
# whose one operator provider is a stand-in model on loopback
# (server/examples/fast_model.rs, OpenAI wire format, answering at once),
# driven by server/examples/bench_chat.rs, which in the same run asks the
# stand-in straight, so each figure is a comparison on this machine:
# 1. time to first token through Alumia beside straight from the model,
#    100 concurrent sessions, the two interleaved: p50, p99, and p99 of the
#    per-pair difference (goal: difference p99 <= 10 ms); first in a closed
#    loop (each session asks again the moment it is answered: the cores
#    busy all the time, so this measures the queue for them), then open
#    loop, the same sessions' pairs arriving at a fixed fraction
#    (BENCH_STEADY_LOAD, 0.5) of the rate the closed loop reached;
# 2. tokens a second relayed through Alumia beside read straight, 10
#    concurrent long answers (goal: ratio >= 0.5);
# 3. the server's resident memory while 1,000 sessions stream at once
#    (goal: <= 250 MB), beside its RSS idle.
# Loopback only; bounded in time (about two minutes after the build).
# Prints ratios and percentiles; asserts no time.
set -euo pipefail
cd "$(dirname "$0")/.."

CONCURRENCY=${BENCH_CONCURRENCY:-100}
ROUNDS=${BENCH_ROUNDS:-10}
STEADY_LOAD=${BENCH_STEADY_LOAD:-0.5}
STEADY_SECS=${BENCH_STEADY_SECS:-10}
RELAY_STREAMS=${BENCH_RELAY_STREAMS:-10}
RELAY_ROUNDS=${BENCH_RELAY_ROUNDS:-3}
RSS_SESSIONS=${BENCH_RSS_SESSIONS:-1000}
# The stand-in's answers, by model id (see fast_model.rs): a short one at
# full speed, a long one at full speed, and one token every 100 ms for two
# minutes at most (the memory phase cancels it long before).
SHORT_MODEL=fast-200
LONG_MODEL=fast-5000
SLOW_MODEL=slow-1200x100
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

# 1,000 SSE connections into the server, 1,000 out of it to the model,
# and the client's own: more descriptors than a default soft limit of 1024.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((RSS_SESSIONS * 2 + 512)) ]; then
  echo "bench-chat: an open-file limit of $(ulimit -n) is too low for $RSS_SESSIONS streams" >&2
  exit 1
fi
started_at=$SECONDS

echo "==> building release server, the stand-in model and the load client"
cargo build -q --release -p server --bin alumia --example fast_model --example bench_chat
# BENCH_BIN=<path> measures another build of the server with the same
# stand-in and client.
bin=${BENCH_BIN:-$CARGO_TARGET_DIR/release/alumia}
fake_bin="$CARGO_TARGET_DIR/release/examples/fast_model"
client="$CARGO_TARGET_DIR/release/examples/bench_chat"
build_done_at=$SECONDS

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # BENCH_LOG=<path> keeps the server's log for reading afterwards.
  if [ -n "${BENCH_LOG:-}" ] && [ -f "$work/server.log" ]; then cp "$work/server.log" "$BENCH_LOG"; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # url
  for _ in $(seq 1 100); do
    curl -fs "$1" >/dev/null && return 0
    sleep 0.1
  done
  echo "bench-chat: $1 never answered" >&2
  exit 1
}
rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
app_port=$(free_port)
fake_port=$(free_port)
fake="http://127.0.0.1:$fake_port"
app="http://127.0.0.1:$app_port"

FAST_ADDR="127.0.0.1:$fake_port" "$fake_bin" &
pids+=($!)
wait_for "$fake/v1/models"

# The stand-in as the operator's provider, at 0 credits: metering runs
# (its checks are part of the path) but nothing needs buying.
config="$work/alumia.toml"
cat >"$config" <<EOF
[[providers]]
id = "fake"
kind = "openai"
base_url = "$fake/v1"
EOF
for model in "$SHORT_MODEL" "$LONG_MODEL" "$SLOW_MODEL"; do
  cat >>"$config" <<EOF

[[providers.models]]
id = "$model"
input_credits_per_mtok = 0
output_credits_per_mtok = 0
EOF
done

export ALUMIA_DATA_DIR="$work/data" ALUMIA_ADDR="127.0.0.1:$app_port" ALUMIA_PUBLIC_URL="http://localhost:$app_port"
export ALUMIA_CONFIG="$config" ALUMIA_OLLAMA_URL=off
# Development only for DISABLE_RATE_LIMIT: the chat route otherwise takes
# 60 messages a minute per user, and this sends thousands.
export ALUMIA_ENV=development DISABLE_RATE_LIMIT=1 RUST_LOG=${BENCH_RUST_LOG:-warn}
unset DATABASE_URL

echo "==> seeding: an org, a key, a project, an agent per model"
"$bin" admin create-user --email bench@example.com --password 'bench password 1' --org bench 2>/dev/null
key=$("$bin" admin mint-key --org bench --email bench@example.com --name bench 2>/dev/null)
"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
pids+=("$server_pid")
wait_for "$app/readyz"

api() { # path json → the envelope's data.id
  local out
  out=$(curl -s -X POST "$app/api/v1$1" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$2")
  python3 -c 'import json,sys
d = json.loads(sys.argv[1])
if not d.get("success"): sys.exit("bench-chat: POST " + sys.argv[2] + ": " + sys.argv[1])
print(d["data"]["id"])' "$out" "$1"
}
models=$(curl -fs "$app/api/v1/models" -H "Authorization: Bearer $key")
for model in "$SHORT_MODEL" "$LONG_MODEL" "$SLOW_MODEL"; do
  grep -q "fake/$model" <<<"$models" || { echo "bench-chat: the catalogue lacks fake/$model: $models" >&2; exit 1; }
done
project=$(api /projects '{"name":"Bench"}')
short_agent=$(api /agents "{\"name\":\"Bench short\",\"model\":\"fake/$SHORT_MODEL\"}")
long_agent=$(api /agents "{\"name\":\"Bench long\",\"model\":\"fake/$LONG_MODEL\"}")
slow_agent=$(api /agents "{\"name\":\"Bench slow\",\"model\":\"fake/$SLOW_MODEL\"}")
rss_start=$(rss_mb "$server_pid")
echo "server pid $server_pid, RSS $rss_start MB after start and seeding"

run() { # label file command…; the client's `result` lines are for the summary
  echo "==> $1"
  "${@:3}" | tee "$work/$2.txt" | grep -v '^result '
}
common=(--alumia "$app" --key "$key" --project "$project")
run "time to first token: $CONCURRENCY concurrent sessions, $ROUNDS rounds, $SHORT_MODEL" first \
  "$client" first-token "${common[@]}" --fake "$fake" --agent "$short_agent" --model "$SHORT_MODEL" \
  --concurrency "$CONCURRENCY" --rounds "$ROUNDS"
# The open loop's rate: a fraction of the pairs a second the closed loop
# reached just now, on this machine, with this build.
closed_rate=$(awk '$1=="result" && $2=="ttft_pairs_per_s" {print $3}' "$work/first.txt")
steady_rate=$(python3 -c "print(round(float('$closed_rate') * float('$STEADY_LOAD'), 1))")
run "time to first token, open loop: $CONCURRENCY sessions, $steady_rate pairs a second ($STEADY_LOAD of $closed_rate), ${STEADY_SECS} s" steady \
  "$client" steady "${common[@]}" --fake "$fake" --agent "$short_agent" --model "$SHORT_MODEL" \
  --concurrency "$CONCURRENCY" --rate "$steady_rate" --seconds "$STEADY_SECS"
run "relay: $RELAY_STREAMS concurrent streams of $LONG_MODEL, $RELAY_ROUNDS rounds" relay \
  "$client" relay "${common[@]}" --fake "$fake" --agent "$long_agent" --model "$LONG_MODEL" \
  --concurrency "$RELAY_STREAMS" --rounds "$RELAY_ROUNDS"
run "memory: $RSS_SESSIONS sessions streaming $SLOW_MODEL at once" rss \
  "$client" rss "${common[@]}" --agent "$slow_agent" --pid "$server_pid" --sessions "$RSS_SESSIONS"

# What the server complained about, if anything: a figure beside a wall of
# warnings is not the figure it seems.
# (Without its colours and timestamps, so like lines count together.)
sed 's/\x1b\[[0-9;]*m//g' "$work/server.log" | grep -E '^[^ ]+ +(WARN|ERROR) ' | cut -d' ' -f2- | sed 's/^ *//' |
  cut -c1-160 >"$work/complaints.txt" || true
echo "==> server log: $(wc -l <"$work/complaints.txt") warning or error lines"
sort "$work/complaints.txt" | uniq -c | sort -rn | head -5

echo "==> summary (build $((build_done_at - started_at)) s, benchmark $((SECONDS - build_done_at)) s)"
python3 - "$work" "$rss_start" "$CONCURRENCY" "$RELAY_STREAMS" "$RSS_SESSIONS" "$STEADY_LOAD" <<'PY'
import sys, pathlib
work, rss_start, concurrency, streams, sessions, load = sys.argv[1:]
r = {}
for name in ("first", "steady", "relay", "rss"):
    for line in (pathlib.Path(work) / f"{name}.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "result":
            r[parts[1]] = float(parts[2])
def get(k):
    return r.get(k, float("nan"))
def verdict(ok):
    return "met" if ok else "NOT MET"
rows = [
    (f"first-token overhead p99, {concurrency} sessions, closed loop", f"{get('ttft_overhead_p99_ms'):.2f} ms",
     "<= 10 ms", get("ttft_overhead_p99_ms") <= 10),
    (f"  the same, open loop at {load} of its rate", f"{get('steady_overhead_p99_ms'):.2f} ms", "<= 10 ms",
     get("steady_overhead_p99_ms") <= 10),
    (f"relay / straight tokens per second, {streams} streams", f"{get('relay_ratio'):.3f}", ">= 0.5",
     get("relay_ratio") >= 0.5),
    (f"server RSS, {sessions} sessions streaming", f"{get('rss_streaming_mb'):.1f} MB", "<= 250 MB",
     get("rss_streaming_mb") <= 250),
]
for name, value, goal, ok in rows:
    print(f"{name:<46} {value:>12}   goal {goal:<10} {verdict(ok)}")
for phase, label in (("ttft", "closed loop"), ("steady", "open loop")):
    print(f"  {label}: {get(phase + '_pairs'):.0f} pairs" +
          (f", {get('ttft_pairs_per_s'):.0f} a second" if phase == "ttft" else f", {get('steady_late'):.0f} arrived with every session busy"))
    print(f"    first token straight   p50 {get(phase + '_direct_p50_ms'):7.2f} ms  p99 {get(phase + '_direct_p99_ms'):7.2f} ms")
    print(f"    first token via alumia p50 {get(phase + '_alumia_p50_ms'):7.2f} ms  p99 {get(phase + '_alumia_p99_ms'):7.2f} ms")
    print(f"    difference             p50 {get(phase + '_overhead_p50_ms'):7.2f} ms  p99 {get(phase + '_overhead_p99_ms'):7.2f} ms")
print(f"  relay {get('relay_alumia_tokens_per_s'):.0f} tokens/s through alumia,"
      f" {get('relay_direct_tokens_per_s'):.0f} straight (medians of rounds)")
print(f"  RSS {rss_start} MB after start, {get('rss_idle_mb'):.1f} MB with {sessions} idle sessions,"
      f" {get('rss_all_started_mb'):.1f} MB once all {get('rss_streams_started'):.0f} streamed"
      f" (after {get('rss_ramp_secs'):.1f} s), max {get('rss_streaming_mb'):.1f} MB over the next 5 s"
      f" ({get('rss_slope_mb_per_s'):+.1f} MB/s)")
print(f"  RSS highest sampled {get('rss_peak_mb'):.1f} MB (VmHWM {get('rss_hwm_mb'):.1f} MB), including"
      f" {get('rss_cancel_secs'):.1f} s of cancelling the runs; {get('rss_after_mb'):.1f} MB after")
trouble = {k: v for k, v in r.items() if (k.endswith("_busy_409") or k.endswith("_failed") or k.endswith("odd_ends")) and v}
if trouble:
    print("  retries and failures: " + ", ".join(f"{k} {v:.0f}" for k, v in trouble.items()))
started = get("rss_streams_started")
if started < float(sessions):
    print(f"  only {started:.0f} of {sessions} streams had started when memory was sampled")
PY
