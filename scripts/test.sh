#!/usr/bin/env bash
# Runs every test tarn has: unit tests, end-to-end tests of the real binary,
# crash and concurrency tests. Installs nothing beyond the Rust toolchain:
# today's tests need no outside server.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs, then rerun $0" >&2
  exit 1
fi
cargo build --locked --bins
cargo test --locked --no-fail-fast
