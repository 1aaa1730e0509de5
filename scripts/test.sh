#!/usr/bin/env bash
# Runs every test tarn has: the gates (rustfmt, clippy, the structure limits
# of scripts/structure.py), unit tests, end-to-end tests of the real binary,
# crash and concurrency tests, the S3/SQS tests against moto_server, which
# this script installs into ./.venv (PyPI `moto[server]`) if it is not there,
# and the inline tests of the detection rules in rules/. Tests build tarn with
# the `fault-injection` feature (crash hooks); a user's build never has it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs, then rerun $0" >&2
  exit 1
fi
if [ ! -x .venv/bin/moto_server ]; then
  echo "installing moto_server into .venv (for the S3 and SQS tests)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'moto[server]==5.2.5'
fi
export TARN_MOTO_SERVER="$PWD/.venv/bin/moto_server"
features=(--features fault-injection)
cargo fmt --check || { echo "error: the code is not formatted; run cargo fmt" >&2; exit 1; }
python3 scripts/structure.py --check
cargo clippy --locked --all-targets "${features[@]}" -- -D warnings
cargo build --locked --bins "${features[@]}"
cargo test --locked --no-fail-fast "${features[@]}"
cargo run --locked --quiet "${features[@]}" --bin tarn -- rules test rules/
