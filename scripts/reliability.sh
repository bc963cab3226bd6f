#!/usr/bin/env bash
# Runs the reliability tests (API faults, bad inputs, crash points, secrets, a bounded fuzz
# run) and prints one table of what was tried and what survived. Exits non-zero if any test
# fails, any row is lost or any secret leaks.
#
#   scripts/reliability.sh            # fuzz 2 s per target
#   XSOLLA_RECON_FUZZ_SECS=30 scripts/reliability.sh
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --test it -- reliability_ bad_input:: fuzz:: --nocapture --test-threads=2 >"$log" 2>&1 || status=$?
lines=$(grep -E '^reliability: ' "$log" || true)
field() { # field <category> <key>
  echo "$lines" | grep -E "^reliability: $1 " | head -1 | tr ' ' '\n' | grep -E "^$2=" | cut -d= -f2
}
printf '%-34s %12s\n' "what" "count"
printf '%-34s %12s\n' "----" "-----"
printf '%-34s %12s\n' "API faults injected" "$(field api_faults tried)"
printf '%-34s %12s\n' "  survived (byte-identical report)" "$(field api_faults survived)"
printf '%-34s %12s\n' "  failed cleanly (exit 3, no report)" "$(field api_faults failed_cleanly)"
printf '%-34s %12s\n' "bad inputs tried" "$(field bad_inputs tried)"
printf '%-34s %12s\n' "  rejected cleanly" "$(field bad_inputs rejected_cleanly)"
printf '%-34s %12s\n' "crash points tried" "$(field crash_points tried)"
printf '%-34s %12s\n' "  recovered, no partial output" "$(field crash_points recovered)"
printf '%-34s %12s\n' "fuzz executions" "$(field fuzz execs)"
printf '%-34s %12s\n' "  crashes" "$(field fuzz crashes)"
printf '%-34s %12s\n' "rows lost" "$(field bad_inputs rows_lost)"
printf '%-34s %12s\n' "secrets leaked" "$(field secrets leaked)"
if [ "$status" -ne 0 ]; then
  echo "some reliability tests FAILED (cargo test exit $status); log:"
  grep -E '^(test |failures|---- )|panicked' "$log" | head -40
  exit 1
fi
[ "$(field bad_inputs rows_lost)" = "0" ] && [ "$(field secrets leaked)" = "0" ] || exit 1
