#!/usr/bin/env bash
# Load benchmark of /api/v1 (see README): a release server on SQLite seeded
# with an org, an API key and 20 projects, driven by wrk from another
# process at 64 connections against GET /api/v1/projects, and in the same
# run against a bare axum handler returning static JSON. Prints req/s, p50
# and p99 of both and their ratio. Loopback only; bounded in time.
# Then dashboard pages in the same run: the signed-out /login beside
# signed-in org pages (agents, overview, projects, billing) with the cookie
# of a browser that signed in through /fn/sign_in (the agents page is the
# frame and the models list); prints each page's ratio
# to /login.
# Then debits per second on SQLite (server/examples/bench_debits.rs), beside
# bare write transactions on the same database.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
ROUNDS=${BENCH_ROUNDS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
  else
    echo "bench-api: needs wrk (Debian: apt-get install wrk)" >&2
    exit 1
  fi
fi

echo "==> building release server and the bare baseline"
cargo build -q --release -p server --bin alumia --example bare_json --example bench_debits
# BENCH_BIN=<path> measures another build of the server (say, the one
# before a change) with this script and the same baseline.
bin=${BENCH_BIN:-$CARGO_TARGET_DIR/release/alumia}
bare="$CARGO_TARGET_DIR/release/examples/bare_json"

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
app_port=$(free_port)
bare_port=$(free_port)
export ALUMIA_DATA_DIR="$work/data" ALUMIA_ADDR="127.0.0.1:$app_port" ALUMIA_PUBLIC_URL="http://localhost:$app_port"
export ALUMIA_ENV=production RUST_LOG=warn
unset DATABASE_URL ALUMIA_CONFIG

echo "==> seeding: an org, a key, 20 projects"
"$bin" admin create-user --email bench@example.com --password 'bench password 1' --org bench 2>/dev/null
key=$("$bin" admin mint-key --org bench --email bench@example.com --name bench 2>/dev/null)
"$bin" serve >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$app_port/readyz" >/dev/null && break
  sleep 0.1
done
for i in $(seq 1 20); do
  curl -fs -o /dev/null -X POST "http://127.0.0.1:$app_port/api/v1/projects" \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"name\":\"Project $i\",\"metadata\":{\"n\":$i}}"
done
# The baseline answers the very bytes the real route answers.
curl -fs "http://127.0.0.1:$app_port/api/v1/projects" -H "Authorization: Bearer $key" >"$work/page.json"
count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["data"]["items"]))' "$work/page.json")
echo "seeded $count projects; a page is $(wc -c <"$work/page.json") bytes"
BARE_ADDR="127.0.0.1:$bare_port" BARE_BODY="$work/page.json" "$bare" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$bare_port/api/v1/projects" >/dev/null && break
  sleep 0.1
done

run() { # id label url [header]
  local out
  if [ -n "${4:-}" ]; then
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$4" "$3")
  else
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$3")
  fi
  echo "$out" >"$work/$1.txt"
  local rps p50 p99 non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  printf '%-28s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$2" "$rps" "$p50" "$p99" "${non2xx:-0}"
  echo "$rps $p99" >>"$work/$1.results"
}

# Both servers share this machine with wrk, so one run of each swings by
# ±15%; rounds alternate them and the median ratio is reported.
echo "==> wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS alternating rounds (warm-up 2s each first)"
wrk -t1 -c8 -d2s "http://127.0.0.1:$bare_port/api/v1/projects" >/dev/null
wrk -t1 -c8 -d2s -H "Authorization: Bearer $key" "http://127.0.0.1:$app_port/api/v1/projects" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  echo "-- round $round"
  run bare "bare axum (static JSON)" "http://127.0.0.1:$bare_port/api/v1/projects"
  run alumia "alumia GET /api/v1/projects" "http://127.0.0.1:$app_port/api/v1/projects" "Authorization: Bearer $key"
done
python3 - "$work" <<'PY'
import sys, pathlib, statistics
w = pathlib.Path(sys.argv[1])
def rows(name):
    return [line.split() for line in (w / f"{name}.results").read_text().splitlines()]
def ms(text):
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)
bare, app = rows("bare"), rows("alumia")
ratios = [float(a[0]) / float(b[0]) for a, b in zip(app, bare)]
print("ratio per round: " + ", ".join(f"{r:.3f}" for r in ratios))
print(f"median ratio alumia/bare throughput: {statistics.median(ratios):.3f} (goal >= 0.5)")
print(f"alumia p99, median of rounds: {statistics.median(ms(a[1]) for a in app):.2f} ms (goal <= 5 ms)")
PY

echo "==> dashboard pages: signed-out /login beside signed-in org pages, $ROUNDS alternating rounds"
# Signing in as a browser does: a form post to the server function, with
# our Origin (the CSRF guard), keeping the session cookie it sets.
cookie=$(curl -fs -o /dev/null -D - -X POST "http://127.0.0.1:$app_port/fn/sign_in" \
  -H "Origin: http://localhost:$app_port" -H 'Accept: application/json' \
  --data-urlencode 'email=bench@example.com' --data-urlencode 'password=bench password 1' |
  tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(alumia_session=[^;]*\).*/\1/p' | tail -1)
if [ -z "$cookie" ]; then
  echo "bench-api: signing in gave no session cookie" >&2
  exit 1
fi
pages=("agents:/bench/agents" "overview:/bench" "projects:/bench/projects" "billing:/bench/billing")
for entry in "${pages[@]}"; do
  path=${entry#*:}
  status=$(curl -s -o "$work/${entry%%:*}.html" -w '%{http_code}' -H "Cookie: $cookie" "http://127.0.0.1:$app_port$path")
  if [ "$status" != 200 ]; then
    echo "bench-api: signed-in GET $path answered $status, not 200" >&2
    exit 1
  fi
  echo "GET $path signed in: $(wc -c <"$work/${entry%%:*}.html") bytes"
done
grep -q 'Project 20' "$work/projects.html" || { echo "bench-api: the projects page lacks its projects" >&2; exit 1; }
wrk -t1 -c8 -d2s "http://127.0.0.1:$app_port/login" >/dev/null
wrk -t1 -c8 -d2s -H "Cookie: $cookie" "http://127.0.0.1:$app_port/bench" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
  echo "-- round $round"
  run login "GET /login (signed out)" "http://127.0.0.1:$app_port/login"
  for entry in "${pages[@]}"; do
    run "page_${entry%%:*}" "GET ${entry#*:} (signed in)" "http://127.0.0.1:$app_port${entry#*:}" "Cookie: $cookie"
  done
done
python3 - "$work" "${pages[@]}" <<'PY'
import sys, pathlib, statistics
w = pathlib.Path(sys.argv[1])
def rows(name):
    return [line.split() for line in (w / f"{name}.results").read_text().splitlines()]
def ms(text):
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    return float(text)
login = rows("login")
print(f"/login: median {statistics.median(float(r[0]) for r in login):.0f} req/s, "
      f"p99 {statistics.median(ms(r[1]) for r in login):.2f} ms")
for entry in sys.argv[2:]:
    name, path = entry.split(":", 1)
    page = rows(f"page_{name}")
    ratios = [float(p[0]) / float(l[0]) for p, l in zip(page, login)]
    print(f"{path}: median {statistics.median(float(r[0]) for r in page):.0f} req/s, "
          f"ratio to /login {statistics.median(ratios):.3f} (per round: {', '.join(f'{r:.3f}' for r in ratios)}), "
          f"p99 {statistics.median(ms(r[1]) for r in page):.2f} ms (goal: ratio >= 0.5, p99 <= 10 ms)")
PY

if [ -n "${BENCH_SKIP_DEBITS:-}" ]; then
  exit 0
fi
echo "==> debits per second on SQLite (${BENCH_DEBITS:-5000} per round, 8 tasks, $ROUNDS alternating rounds)"
"$CARGO_TARGET_DIR/release/examples/bench_debits" "${BENCH_DEBITS:-5000}" 8 "$ROUNDS"
