#!/usr/bin/env bash
# Fuzzes every parser that reads untrusted bytes for about SECONDS each (default 60).
#
# With `cargo fuzz` and a nightly toolchain: libFuzzer on each target in fuzz/fuzz_targets.
# Without them: the bounded stable mutation fuzzer (tests/it/fuzz.rs), same targets, same
# invariants. Either way the last line of output is
#   reliability: fuzz targets=<N> execs=<total> crashes=<C>
# and the exit status is non-zero when anything crashed.
set -uo pipefail

secs="${1:-60}"
case "$secs" in
  ''|*[!0-9]*) echo "usage: $0 [seconds per target]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."

targets=(ledger_csv registry_json registry_csv config_toml)
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

if cargo fuzz --version >/dev/null 2>&1 && cargo +nightly --version >/dev/null 2>&1; then
  execs=0
  crashes=0
  for t in "${targets[@]}"; do
    log="$log_dir/$t.log"
    echo "fuzzing $t for ${secs}s (cargo +nightly fuzz)" >&2
    # -rss_limit_mb and -max_len keep one run bounded like everything else here.
    if ! cargo +nightly fuzz run "$t" -- -max_total_time="$secs" -max_len=65536 \
        -rss_limit_mb=2048 >"$log" 2>&1; then
      crashes=$((crashes + 1))
      echo "CRASH in $t; the input is saved under fuzz/artifacts/$t/:" >&2
      tail -n 40 "$log" >&2
    fi
    # libFuzzer ends with "Done <runs> runs in <s> second(s)"; a crash leaves the last stat line.
    n="$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' | tail -n1)"
    if [ -z "$n" ]; then
      n="$(grep -Eo '^#[0-9]+' "$log" | tr -d '#' | tail -n1)"
    fi
    execs=$((execs + ${n:-0}))
  done
  echo "reliability: fuzz targets=${#targets[@]} execs=$execs crashes=$crashes"
  [ "$crashes" -eq 0 ]
  exit $?
fi

echo "cargo fuzz or nightly not available: running the stable bounded fuzzer (${secs}s per target)" >&2
log="$log_dir/stable.log"
XSOLLA_RECON_FUZZ_SECS="$secs" cargo test --test it fuzz:: -- --nocapture >"$log" 2>&1
status=$?
line="$(grep -E '^reliability: fuzz ' "$log" | tail -n1)"
if [ -z "$line" ]; then
  # The test died before printing (a crash aborts it): show why, and count it as a crash.
  tail -n 60 "$log" >&2
  echo "reliability: fuzz targets=${#targets[@]} execs=0 crashes=1"
  exit 1
fi
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log" >&2
fi
echo "$line"
exit "$status"
