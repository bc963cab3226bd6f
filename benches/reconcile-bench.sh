#!/usr/bin/env bash
# Benchmark: reconcile ROWS provider rows against a matching ledger with K known discrepancies,
# end to end from files (registry CSV export + ledger CSV), and, on the same files in the same
# run, each as its own process: the bare Polars read of both files, datacompy's compare (Polars
# backend) and a DuckDB query that finds the classes the benchmark plants (both from PyPI, in a
# venv in the work folder). Prints figures and their ratios; judges nothing.
#
#   benches/reconcile-bench.sh [ROWS] [K]        (defaults: 1000000 1000; try 10000000)
#
# BENCH_REAL=1    the data with fees and refunds (gen.py --real) instead of the default data
# BIN=path        the xsolla-recon binary to time (default: cargo build --release)
# BENCH_DIR=dir   the work folder (default: a new temporary folder); its venv is reused, and so
#                 are its data files when they were generated with the same ROWS, K and data
# BENCH_PARQUET=1 xsolla-recon reads both files converted to Parquet once (every column as
#                 text, by the venv's Polars; the conversion is not timed), as a large window's
#                 snapshot converted after its fetch would be; the other figures read the CSVs
# ROWS_PER_PART=N xsolla-recon runs in parts of N rows (reconcile.rows_per_part; its part files
#                 go to the work folder): how 100 M rows per side fit in a few GiB
# SQL_DIR=dir     xsolla-recon runs the rules of dir (reconcile.sql_dir) instead of the built-in ones
# SKIP_POLARS=1, SKIP_DATACOMPY=1, SKIP_DUCKDB=1   leave that figure out
# BENCH_RUNS=N    each program runs N times in a row (default 2) and every run is printed:
#                 run 1 of a program follows whatever ran before it, run 2 follows its own
#                 run 1. On a virtual machine whose host takes back memory the guest left idle
#                 (this project's 2-core machines), the first run after an idle spell pays
#                 for faulting in fresh memory, which costs a program in proportion to its peak;
#                 the second run shows the program itself. Each xsolla-recon run starts from
#                 a fresh state folder, so every run does the same work.
# BENCH_INSTRUCTIONS=1  counts the instructions of xsolla-recon's run instead (valgrind's
#                 callgrind, about 2 minutes at 1 M rows) and prints the total and the functions
#                 that run the most; nothing else is run. Unlike the wall time, the count does not
#                 move with what else the machine is doing, so two builds or two rule sets can be
#                 compared on a shared machine whose wall times vary by half from run to run. The
#                 run starts from a fresh state folder (open items carried from an earlier run
#                 are work of their own). TOP=N: how many functions (default 25). Needs valgrind
#                 (Debian: apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
K=${2:-1000}
RUNS=${BENCH_RUNS:-2}
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_RUNS must be a whole number from 1" >&2; exit 2; }
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/xsolla-recon
fi
variant="default data"
[ -n "${BENCH_REAL:-}" ] && [ "${BENCH_REAL}" != 0 ] && variant="real data (fees, refunds)"

# A figure left out (SKIP_*) must not be printed from an earlier run in the same BENCH_DIR.
rm -f "$work"/time.*
# The same data is not generated twice (100 M rows per side take about 20 minutes).
made="$ROWS $K $variant"
if [ -s "$work/registry.csv" ] && [ -s "$work/ledger.csv" ] && [ "$(cat "$work/generated" 2>/dev/null)" = "$made" ]; then
  echo "== reusing $ROWS rows with $K discrepancies in $work ($variant)"
else
  echo "== generating $ROWS rows with $K discrepancies in $work ($variant)"
  rm -f "$work/generated"
  python3 benches/reconcile/gen.py "$ROWS" "$K" "$work"
  echo "$made" >"$work/generated"
fi

registry=$work/registry.csv
ledger=$work/ledger.csv
if [ -n "${BENCH_PARQUET:-}" ] && [ "${BENCH_PARQUET}" != 0 ]; then
  [ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
  "$work/venv/bin/python" -c "import polars" 2>/dev/null || "$work/venv/bin/pip" install --quiet polars
  for f in registry ledger; do
    if [ ! -s "$work/$f.parquet" ] || [ "$work/$f.csv" -nt "$work/$f.parquet" ]; then
      echo "== converting $f.csv to Parquet (not timed)"
      "$work/venv/bin/python" -c "import polars as pl, sys; pl.scan_csv(sys.argv[1], infer_schema=False).sink_parquet(sys.argv[2])" \
        "$work/$f.csv" "$work/$f.parquet"
    fi
  done
  registry=$work/registry.parquet
  ledger=$work/ledger.parquet
fi

cat >"$work/bench.toml" <<TOML
data_dir = "$work/data"
[[merchant]]
name = "bench"
merchant_id = 1
[merchant.ledger]
path = "$ledger"
# Room for every line the generator writes (refunds add about 2.4 %): above 50 M rows the
# default limit would refuse the file.
max_rows = $((ROWS * 2 + 1000))
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
Refund = "refunded"
TOML
if [ -n "${ROWS_PER_PART:-}" ] || [ -n "${SQL_DIR:-}" ]; then
  echo "[reconcile]" >>"$work/bench.toml"
  [ -z "${ROWS_PER_PART:-}" ] ||
    printf 'rows_per_part = %s\nparts_dir = "%s"\n' "$ROWS_PER_PART" "$work/parts" >>"$work/bench.toml"
  [ -z "${SQL_DIR:-}" ] || printf 'sql_dir = "%s"\n' "$(cd "$SQL_DIR" && pwd)" >>"$work/bench.toml"
fi
# xsolla-recon's run, timed or counted.
recon_args=(-q reconcile --from 2026-10-01 --to 2026-10-31 --config "$work/bench.toml"
  --registry-export "$registry" --out "$work/out")

if [ -n "${BENCH_INSTRUCTIONS:-}" ] && [ "${BENCH_INSTRUCTIONS}" != 0 ]; then
  command -v valgrind >/dev/null || { echo "BENCH_INSTRUCTIONS=1 needs valgrind" >&2; exit 2; }
  rm -rf "$work/out" "$work/data"
  echo "== xsolla-recon reconcile under callgrind (instructions counted, not timed)"
  code=0
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$BIN" "${recon_args[@]}" \
    2>"$work/callgrind.log" || code=$?
  echo "exit code $code (1 = discrepancies found)"
  grep -h "refs:" "$work/callgrind.log" | sed 's/^==[0-9]*== *//'
  callgrind_annotate --inclusive=no "$work/callgrind.out" 2>/dev/null |
    sed -n '/file:function/,$p' | head -n $((${TOP:-25} + 2)) || true
  exit 0
fi

# timed NAME.RUN CMD...: runs CMD under /usr/bin/time, keeps "wall_s peak_KiB" in
# $work/time.NAME.RUN and returns CMD's exit code.
timed() {
  local name=$1
  shift
  rm -f "$work/time.$name"
  set +e
  /usr/bin/time -f "%e %M" -o "$work/time.$name" "$@"
  local code=$?
  set -e
  return $code
}

echo "== xsolla-recon reconcile (load both files, reconcile, write results), $RUNS run(s)"
for run in $(seq 1 "$RUNS"); do
  # A fresh state folder: open items carried from the run before would be work of their own.
  rm -rf "$work/out" "$work/data"
  code=0
  timed "recon.$run" "$BIN" "${recon_args[@]}" || code=$?
  echo "run $run: exit code $code (1 = discrepancies found)"
done
# What the report says it found, per class, against the K planted (the generator disturbs
# every k-th transaction in turn: dropped from the ledger, amount off by one, booked twice).
python3 - "$work/out/discrepancies.csv" "$K" <<'PY' || true
import collections, csv, sys
path, k = sys.argv[1], int(sys.argv[2])
with open(path, newline="", encoding="utf-8-sig") as f:
    rows = list(csv.DictReader(f))
by = collections.Counter(r["class"] for r in rows)
print(f"report: {len(rows)} findings ({', '.join(f'{c} {n}' for c, n in sorted(by.items()))}); planted: {k}")
PY

pkgs=()
[ -z "${SKIP_POLARS:-}" ] && pkgs+=(polars)
[ -z "${SKIP_DATACOMPY:-}" ] && pkgs+=(datacompy)
[ -z "${SKIP_DUCKDB:-}" ] && pkgs+=(duckdb)
if [ ${#pkgs[@]} -gt 0 ]; then
  [ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
  missing=()
  for p in "${pkgs[@]}"; do
    "$work/venv/bin/python" -c "import $p" 2>/dev/null || missing+=("$p")
  done
  # One pip call, so the Polars timed alone is the one datacompy runs on.
  [ ${#missing[@]} -eq 0 ] || "$work/venv/bin/pip" install --quiet "${missing[@]}"
fi
py=$work/venv/bin/python
# py_runs NAME SCRIPT: the venv's Python runs benches/reconcile/SCRIPT on the work folder RUNS
# times in a row, each timed as NAME.RUN; a run that fails is said.
py_runs() {
  local run
  for run in $(seq 1 "$RUNS"); do
    timed "$1.$run" "$py" "benches/reconcile/$2" "$work" || echo "(run $run failed: exit code $?)"
  done
}

if [ -z "${SKIP_POLARS:-}" ]; then
  echo "== Polars: the bare read of both files"
  py_runs polars polars_read.py
fi
if [ -z "${SKIP_DATACOMPY:-}" ]; then
  echo "== datacompy"
  py_runs datacompy datacompy_compare.py
fi
if [ -z "${SKIP_DUCKDB:-}" ]; then
  echo "== DuckDB: the planted classes in one query"
  py_runs duckdb duckdb_query.py
fi

# fig NAME.RUN: "wall_s peak_MiB" (a run that failed has its figures too), or nothing when that
# run did not happen.
fig() {
  [ -s "$work/time.$1" ] || return 0
  awk 'NF == 2 && $1 ~ /^[0-9.]+$/ { printf "%.2f %.0f\n", $1, $2 / 1024 }' "$work/time.$1" | tail -1
}
ratio() { # ratio A B LABEL: A's wall and peak over B's, in each run
  local line="" a b r
  for r in $(seq 1 "$RUNS"); do
    a=$(fig "$1.$r")
    b=$(fig "$2.$r")
    [ -n "$a" ] && [ -n "$b" ] || continue
    line+=$(awk -v a="$a" -v b="$b" -v r="$r" 'BEGIN { split(a, x, " "); split(b, y, " ");
      printf "   run %d: wall %.2fx peak %.2fx", r, x[1] / y[1], x[2] / y[2] }')
  done
  [ -z "$line" ] || printf "%-34s%s\n" "$3" "$line"
}
echo
echo "== summary: $ROWS payments, K = $K, $variant; each its own process, wall and peak (RSS)"
echo "   from /usr/bin/time, so the Python figures include the interpreter's start and imports;"
echo "   run 1 of each program follows what ran before it, run 2 follows its own run 1"
header=$(printf "%-34s" "")
for r in $(seq 1 "$RUNS"); do header+=$(printf "  %12s %9s" "run $r wall s" "peak MiB"); done
echo "$header"
for row in "recon:xsolla-recon, end to end" "polars:Polars, read both files" \
           "datacompy:datacompy, read + compare" "duckdb:DuckDB, read + classify + write"; do
  line="" any=""
  for r in $(seq 1 "$RUNS"); do
    f=$(fig "${row%%:*}.$r")
    [ -n "$f" ] && any=1
    line+=$(printf "  %12s %9s" ${f:-- -})
  done
  [ -n "$any" ] && printf "%-34s%s\n" "${row#*:}" "$line"
done
ratio recon duckdb "xsolla-recon / DuckDB"
ratio recon polars "xsolla-recon / Polars read"
ratio recon datacompy "xsolla-recon / datacompy"
exit 0
