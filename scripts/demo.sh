#!/usr/bin/env bash
# Shows tarn's main job with no AWS or Snyk account: generates realistic
# CloudTrail files (as S3 holds them) and Snyk audit logs, ingests them into
# ./demo/lake and runs a few queries. Then try: ./target/release/tarn --lake demo/lake sql
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release --bin tarn
rm -rf demo
mkdir -p demo
./target/release/tarn --lake demo/lake demo --sample demo/sample
