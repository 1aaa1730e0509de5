#!/usr/bin/env bash
# The long fuzz run: each of tests/fuzz.rs's targets (record reader, schema
# loader, rule loader, Lake dialect rewriter) for TARN_FUZZ_SECONDS (default
# 600) on a release build, two at a time (the test binary is run directly:
# cargo would hold its build lock for the whole run). The test command runs
# the same targets for 5 seconds each. A crash's input is saved under
# target/fuzz-crashes/; replay a run with the TARN_FUZZ_SEED it printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export TARN_FUZZ_SECONDS="${TARN_FUZZ_SECONDS:-600}"
binary=$(cargo test --locked --release --test fuzz --no-run 2>&1 | sed -n 's/.*Executable tests\/fuzz.rs (\(.*\))/\1/p')
[ -x "$binary" ] || { echo "error: the fuzz test binary was not built" >&2; exit 1; }
status=0
pair() {
  "$binary" --exact "$1" --nocapture 2>&1 | grep --line-buffered -E "^fuzz|panicked|test result" & a=$!
  "$binary" --exact "$2" --nocapture 2>&1 | grep --line-buffered -E "^fuzz|panicked|test result" & b=$!
  wait $a || status=1
  wait $b || status=1
}
pair fuzz_record_reader fuzz_schema_loader
pair fuzz_rule_loader fuzz_lake_dialect_rewriter
exit $status
