#!/usr/bin/env bash
# Benchmark: fetch ~1,000,000 registry rows from the sandbox over loopback HTTP and print
# rows/s and peak memory. Not a test: it prints figures, it does not judge them.
#
#   benches/fetch-1m.sh [PER_DAY] [FORMAT]      (defaults: 2810 rows/day over 2025 → ~1M; json)
#
# BIN=path    the xsolla-recon binary to run (default: cargo build --release)
#
# Besides the fetch's own line, it prints the CPU time of the client and of the sandbox during
# the fetch (they share the machine's cores), and the rate over every registry row read: the
# window's rows and the rows read again per payout (`fetch.payout_rows`).
set -euo pipefail
cd "$(dirname "$0")/.."
PER_DAY=${1:-2810}
FORMAT=${2:-json}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/xsolla-recon
fi
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

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
echo "sandbox: $url ($PER_DAY payments/day over 2025, generated in ${sandbox_rss_kb} KiB RSS)"
sandbox_before=$(cpu_ticks "$sandbox_pid")
started=$(date +%s.%N)
BENCH_XSOLLA_KEY=sandbox-company-key "$BIN" -q fetch --from 2025-01-01 --to 2025-12-31 --config "$work/bench.toml" &
fetch_pid=$!
client_ticks=0
while kill -0 "$fetch_pid" 2>/dev/null; do
  client_ticks=$(cpu_ticks "$fetch_pid" 2>/dev/null || echo "$client_ticks")
  sleep 0.2
done
wait "$fetch_pid"
ended=$(date +%s.%N)
sandbox_after=$(cpu_ticks "$sandbox_pid")
python3 - "$work/data" "$started" "$ended" "$client_ticks" "$((sandbox_after - sandbox_before))" "$hz" <<'PY'
import glob, json, sys
data, started, ended, client, sandbox, hz = sys.argv[1:]
manifest = json.load(open(glob.glob(f"{data}/snapshots/bench/*/manifest.json")[0]))
c = manifest["counts"]
rows = c["registry"]["rows_received"] + c["payout_registry_rows"]
wall = float(ended) - float(started)
print(f"all registry rows read (window {c['registry']['rows_received']:,} + per payout "
      f"{c['payout_registry_rows']:,}): {rows:,} in {wall:.1f}s wall ({rows / wall:,.0f} rows/s); "
      f"CPU: client {int(client) / int(hz):.1f}s (at least; sampled), sandbox {int(sandbox) / int(hz):.1f}s")
PY
echo "snapshot size on disk: $(du -sh "$work/data" | cut -f1)"
