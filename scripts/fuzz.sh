#!/usr/bin/env bash
# The long fuzz run: each of tests/fuzz.rs's targets (record reader, schema
# loader, rule loader, Lake dialect rewriter) for TARN_FUZZ_SECONDS (default
# 600) on a release build, two at a time. The test command runs the same
# targets for 5 seconds each. A crash's input is saved under
# target/fuzz-crashes/; replay a run with the TARN_FUZZ_SEED it printed.
set -euo pipefail
cd "$(dirname "$0")/.."
export TARN_FUZZ_SECONDS="${TARN_FUZZ_SECONDS:-600}"
cargo test --locked --release --test fuzz --no-run
run() { cargo test --locked --release --test fuzz -- --exact "$1" --nocapture 2>&1 | grep -E "^fuzz|panicked|crash|test result"; }
status=0
run fuzz_record_reader & a=$!
run fuzz_schema_loader & b=$!
wait $a || status=1
wait $b || status=1
run fuzz_rule_loader & a=$!
run fuzz_lake_dialect_rewriter & b=$!
wait $a || status=1
wait $b || status=1
exit $status
