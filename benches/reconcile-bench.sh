#!/usr/bin/env bash
# Benchmark: reconcile ROWS provider rows against a matching ledger with K known discrepancies,
# end to end from files (registry CSV export + ledger CSV), and time datacompy (PyPI, Polars
# backend) on the same two tables. Prints figures; judges nothing.
#
#   benches/reconcile-bench.sh [ROWS] [K]        (defaults: 1000000 1000; try 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
K=${2:-1000}
work=${BENCH_DIR:-$(mktemp -d)}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/xsolla-recon
fi

echo "== generating $ROWS rows with $K discrepancies in $work"
python3 benches/reconcile/gen.py "$ROWS" "$K" "$work"

cat >"$work/bench.toml" <<TOML
data_dir = "$work/data"
[[merchant]]
name = "bench"
merchant_id = 1
[merchant.ledger]
path = "$work/ledger.csv"
[merchant.ledger.columns]
date = "Booking date"
transaction_id = "Xsolla transaction"
order_id = "Order"
currency = "Currency"
amount = "Gross"
fee = "Fee"
status = "Status"
note = "Note"
[merchant.ledger.status_map]
Paid = "paid"
TOML

echo "== xsolla-recon reconcile (load both files, reconcile, write results)"
set +e
/usr/bin/time -f "wall %es, peak memory %M KiB" "$BIN" -q reconcile --from 2026-10-01 --to 2026-10-31 \
  --config "$work/bench.toml" --registry-export "$work/registry.csv" --out "$work/out"
code=$?
set -e
echo "exit code $code (1 = discrepancies found)"

[ -n "${SKIP_DATACOMPY:-}" ] && exit 0
echo "== datacompy"
if [ ! -x "$work/venv/bin/python" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/pip" install --quiet datacompy polars
fi
"$work/venv/bin/python" benches/reconcile/datacompy_compare.py "$work"
