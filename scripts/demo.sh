#!/usr/bin/env bash
# Shows tarn's main job with no AWS or Snyk account: generates realistic
# CloudTrail files (as S3 holds them) and Snyk audit logs, ingests them into
# ./demo/lake, runs a few queries, then the starter detections of rules/ (alerts
# into demo/alerts.csv and the lake's alerts table).
# Then try: ./target/debug/tarn --lake demo/lake sql
# (The debug build is the quick one to make; `cargo build --release` for large lakes.)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs, then rerun $0" >&2
  exit 1
fi
cargo build --locked --bin tarn
rm -rf demo
mkdir -p demo
./target/debug/tarn --lake demo/lake demo --sample demo/sample
echo
echo "== detections: tarn rules run rules/ (the sample's whole time range) =="
./target/debug/tarn --lake demo/lake rules run rules/ --since 3650d --format csv > demo/alerts.csv
./target/debug/tarn --lake demo/lake query "SELECT rule_id, severity, count(*) AS alerts, sum(count) AS matches FROM alerts GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10"
