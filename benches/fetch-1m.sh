#!/usr/bin/env bash
# Benchmark: fetch ~1,000,000 registry rows from the sandbox over loopback HTTP and print
# rows/s and peak memory. Not a test: it prints figures, it does not judge them.
#
#   benches/fetch-1m.sh [PER_DAY] [FORMAT]      (defaults: 2810 rows/day over 2025 → ~1M; json)
set -euo pipefail
cd "$(dirname "$0")/.."
PER_DAY=${1:-2810}
FORMAT=${2:-json}
cargo build --release --quiet
BIN=$PWD/target/release/xsolla-recon
work=$(mktemp -d)
trap 'kill $sandbox_pid 2>/dev/null || true; rm -rf "$work"' EXIT

"$BIN" -q sandbox --port 0 --seed 1 --from 2025-01-01 --to 2025-12-31 --per-day "$PER_DAY" >"$work/sandbox.out" &
sandbox_pid=$!
for _ in $(seq 1 600); do
  grep -q 'http://127.0.0.1:' "$work/sandbox.out" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*/merchant/v2' "$work/sandbox.out" | head -1)
[ -n "$url" ] || { echo "sandbox did not start"; cat "$work/sandbox.out"; exit 1; }
sandbox_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$sandbox_pid/status)

cat >"$work/bench.toml" <<TOML
data_dir = "$work/data"
[http]
min_request_interval_ms = 0
max_concurrency = 2
[fetch]
format = "$FORMAT"
page_limit = 1000
[[merchant]]
name = "bench"
merchant_id = 100001
api_key_env = "BENCH_XSOLLA_KEY"
base_url = "$url"
TOML

echo "sandbox: $url ($PER_DAY payments/day over 2025, generated in ${sandbox_rss_kb} KiB RSS)"
BENCH_XSOLLA_KEY=sandbox-company-key "$BIN" -q fetch --from 2025-01-01 --to 2025-12-31 --config "$work/bench.toml"
echo "snapshot size on disk: $(du -sh "$work/data" | cut -f1)"
