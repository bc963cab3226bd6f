#!/usr/bin/env bash
# Benchmark: fetch ~1,000,000 registry rows from the sandbox over loopback HTTP, twice against
# one sandbox: the default fetch (`fetch.payout_rows = true`: every payout's rows are read
# again, with no dates) and one with `payout_rows = false` (the window's rows only). Not a
# test: it prints figures, it does not judge them.
#
#   benches/fetch-1m.sh [PER_DAY] [FORMAT]      (defaults: 2810 rows/day over 2025 → ~1M; json)
#
# BIN=path              the xsolla-recon binary to run (default: cargo build --release)
# MAX_CONCURRENCY=n     http.max_concurrency of both fetches (default 2, the setting's default)
#
# For each fetch it prints: wall time; rows/s over the window's rows and over every registry
# row read (the window's and the payouts'); the CPU time of the client and of the sandbox
# during the fetch (they share the machine's cores); the client's peak RSS; and, as evidence
# that memory does not grow with the rows, the client's RSS (and peak so far) once a quarter
# of the registry pages were stored vs. at the last sample before it ended.
set -euo pipefail
cd "$(dirname "$0")/.."
PER_DAY=${1:-2810}
FORMAT=${2:-json}
MAX_CONCURRENCY=${MAX_CONCURRENCY:-2}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/xsolla-recon
fi
work=$(mktemp -d)
sandbox_pid=
trap '[ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null; rm -rf "$work"' EXIT

"$BIN" -q sandbox --port 0 --seed 1 --from 2025-01-01 --to 2025-12-31 --per-day "$PER_DAY" >"$work/sandbox.out" &
sandbox_pid=$!
for _ in $(seq 1 600); do
  grep -q 'http://127.0.0.1:' "$work/sandbox.out" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://127.0.0.1:[0-9]*/merchant/v2' "$work/sandbox.out" | head -1)
[ -n "$url" ] || { echo "sandbox did not start"; cat "$work/sandbox.out"; exit 1; }
sandbox_rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$sandbox_pid/status)
echo "sandbox: $url ($PER_DAY payments/day over 2025, generated in ${sandbox_rss_kb} KiB RSS); http.max_concurrency = $MAX_CONCURRENCY"

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# A field of /proc/PID/status in KiB (VmRSS, VmHWM).
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

# One fetch of 2025 into its own data folder: `bench_fetch FOLDER LABEL PAYOUT_ROWS`.
bench_fetch() {
  local dir="$work/$1" name=$2 payout_rows=$3
  mkdir -p "$dir"
  cat >"$dir/bench.toml" <<TOML
data_dir = "$dir/data"
[http]
min_request_interval_ms = 0
max_concurrency = $MAX_CONCURRENCY
[fetch]
format = "$FORMAT"
page_limit = 1000
payout_rows = $payout_rows
[[merchant]]
name = "bench"
merchant_id = 100001
api_key_env = "BENCH_XSOLLA_KEY"
base_url = "$url"
TOML
  local sandbox_before started ended fetch_pid client_ticks=0 t rss hwm pages
  sandbox_before=$(cpu_ticks "$sandbox_pid")
  started=$(date +%s.%N)
  BENCH_XSOLLA_KEY=sandbox-company-key "$BIN" -q fetch --from 2025-01-01 --to 2025-12-31 \
    --config "$dir/bench.toml" >"$dir/fetch.out" &
  fetch_pid=$!
  # Samples: registry pages stored so far, RSS and peak RSS (KiB).
  : >"$dir/samples"
  while kill -0 "$fetch_pid" 2>/dev/null; do
    t=$(cpu_ticks "$fetch_pid" 2>/dev/null) && client_ticks=$t
    rss=$(status_kb "$fetch_pid" VmRSS 2>/dev/null) || rss=
    hwm=$(status_kb "$fetch_pid" VmHWM 2>/dev/null) || hwm=
    pages=$({ find "$dir/data" -name 'p[0-9]*' ! -name '*.meta.json' 2>/dev/null || true; } | wc -l)
    [ -n "$rss" ] && [ -n "$hwm" ] && echo "$pages $rss $hwm" >>"$dir/samples"
    sleep 0.2
  done
  wait "$fetch_pid"
  ended=$(date +%s.%N)
  python3 - "$name" "$dir" "$started" "$ended" "$client_ticks" "$(($(cpu_ticks "$sandbox_pid") - sandbox_before))" "$hz" <<'PY'
import glob, json, re, sys
name, d, started, ended, client, sandbox, hz = sys.argv[1:]
manifest = json.load(open(glob.glob(f"{d}/data/snapshots/bench/*/manifest.json")[0]))
c = manifest["counts"]
window = c["registry"]["rows_received"]
rows = window + c["payout_registry_rows"]
wall = float(ended) - float(started)
line = open(f"{d}/fetch.out").read()
peak = re.search(r"peak memory (\d+) MiB", line)
print(f"{name}: window {window:,} rows + per payout {c['payout_registry_rows']:,} = {rows:,} registry rows "
      f"in {wall:.1f}s wall; {window / wall:,.0f} rows/s over the window's rows, "
      f"{rows / wall:,.0f} rows/s over every registry row read; "
      f"CPU: client {int(client) / int(hz):.1f}s (at least; sampled), sandbox {int(sandbox) / int(hz):.1f}s; "
      f"client peak RSS {peak.group(1) if peak else '?'} MiB")
pages = sum(1 for f in manifest["files"] if f["endpoint"] in ("registry", "payout_registry"))
samples = [tuple(map(int, l.split())) for l in open(f"{d}/samples") if l.strip()]
quarter = next((s for s in samples if s[0] >= pages / 4), None)
mib = lambda kb: f"{kb / 1024:.0f} MiB"
if quarter and samples:
    end = samples[-1]
    print(f"{name}: client RSS at a quarter of the registry pages ({quarter[0]:,} of {pages:,}): "
          f"{mib(quarter[1])} (peak so far {mib(quarter[2])}); at the last sample ({end[0]:,} pages): "
          f"{mib(end[1])} (peak {mib(end[2])})")
else:
    print(f"{name}: too few memory samples ({len(samples)}) for the quarter-vs-end figure")
PY
  echo "$name: snapshot size on disk: $(du -sh "$dir/data" | cut -f1)"
  rm -rf "$dir/data"
}

bench_fetch on "payout rows on (default)" true
bench_fetch off "payout rows off" false
