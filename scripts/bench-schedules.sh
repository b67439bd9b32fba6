#!/usr/bin/env bash
# Benchmark of the schedule runner (server/examples/bench_schedules.rs), on
# SQLite and, when one answers at 127.0.0.1:5432, on PostgreSQL:
# 1. the due scan: a runner pass with nothing due among 1,000 schedules and
#    among 100,000 (most due in the coming weeks); goal: the 100,000 pass
#    within 1.5x of the 1,000 one;
# 2. fire lag: 1,000 schedules due at the same instant, each firing a run
#    against a stand-in model on loopback (server/examples/fast_model.rs,
#    OpenAI wire format); the claim's and the run's start (its rows
#    written, its loop started) behind the due time, p50 and p99 (goal:
#    run start p99 <= 1 s); and, beside it, when each run's first model
#    call reached the stand-in: the runtime's own pace with 1,000 runs
#    streaming at once on this machine.
# Prints percentiles and ratios of one run on this machine; asserts no time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
PG_ADMIN=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}

echo "==> building the stand-in model and the benchmark (release)"
cargo build -q --release -p server --example fast_model --example bench_schedules
fake_bin="$CARGO_TARGET_DIR/release/examples/fast_model"
bench="$CARGO_TARGET_DIR/release/examples/bench_schedules"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
FAST_ADDR="127.0.0.1:$port" "$fake_bin" &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/v1/models" >/dev/null && break; sleep 0.1; done

# The stand-in as the operator's provider, at 0 credits.
cat >"$work/alumia.toml" <<TOML
[[providers]]
id = "fake"
kind = "openai"
base_url = "http://127.0.0.1:$port/v1"

[[providers.models]]
id = "fast-200"
input_credits_per_mtok = 0
output_credits_per_mtok = 0
TOML
export RUST_LOG=${BENCH_RUST_LOG:-warn}

"$bench" --config "$work/alumia.toml" --model fake/fast-200 --model-url "http://127.0.0.1:$port" | tee "$work/sqlite.txt"
if psql "$PG_ADMIN" -qtAc 'SELECT 1' >/dev/null 2>&1; then
  "$bench" --config "$work/alumia.toml" --model fake/fast-200 --model-url "http://127.0.0.1:$port" --postgres "$PG_ADMIN" | tee "$work/postgres.txt"
else
  echo "==> no PostgreSQL at $PG_ADMIN: its half is skipped"
fi

echo "==> summary"
python3 - "$work" <<'PY'
import sys, pathlib
r = {}
for f in pathlib.Path(sys.argv[1]).glob("*.txt"):
    for line in f.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "result":
            r[parts[1]] = float(parts[2])
for backend in ("sqlite", "postgres"):
    if f"{backend}_scan_ratio" not in r:
        continue
    ratio, p99 = r[f"{backend}_scan_ratio"], r[f"{backend}_recorded_lag_p99_ms"]
    print(f"{backend:<9} scan 1,000 {r[f'{backend}_scan_small_p50_ms']:.3f} ms, 100,000 "
          f"{r[f'{backend}_scan_large_p50_ms']:.3f} ms: ratio {ratio:.2f} (goal <= 1.5: {'met' if ratio <= 1.5 else 'NOT MET'})")
    print(f"{'':<9} fire lag, 1,000 due at once: claim p99 {r[f'{backend}_claim_lag_p99_ms']:.0f} ms, run start "
          f"p99 {p99:.0f} ms (goal p99 <= 1000 ms: {'met' if p99 <= 1000 else 'NOT MET'}); first model call "
          f"({r[f'{backend}_model_calls']:.0f} calls) p50 {r[f'{backend}_model_call_lag_p50_ms']:.0f} ms "
          f"p99 {r[f'{backend}_model_call_lag_p99_ms']:.0f} ms")
PY
