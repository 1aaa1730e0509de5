#!/usr/bin/env bash
# Runs every test tarn has: the gates (rustfmt, clippy, the structure limits
# of scripts/structure.py), unit tests, end-to-end tests of the real binary,
# crash and concurrency tests, the S3/SQS tests against moto_server, and the
# inline tests of the detection rules in rules/. Tests build tarn with the
# `fault-injection` feature (crash hooks); a user's build never has it.
#
# The Python tools go into ./.venv at exact versions, installed when one is
# missing or at another version: moto_server (PyPI `moto[server]`) for the S3
# and SQS tests; deltalake (delta-rs) and duckdb with its `delta` extension
# (duckdb-ext-delta, loaded from the file it ships; duckdb-ext-httpfs for
# lakes on S3), the other engines that read the lake's Delta tables in
# tests/open_tables.rs and tests/s3_lake.rs (and `cargo bench
# --bench ingest` compares with DuckDB). duckdb is the release
# duckdb-ext-delta is built for; benches/ingest.rs names the same version.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed; install Rust from https://rustup.rs, then rerun $0" >&2
  exit 1
fi
venv_pins=('moto[server]==5.2.5' 'duckdb==1.4.4' 'deltalake==1.6.6' 'duckdb-ext-delta==1.4.4.20260205' 'duckdb-ext-httpfs==1.4.4.20260205')
venv_ready() {
  [ -x .venv/bin/moto_server ] && .venv/bin/python - "${venv_pins[@]}" 2>/dev/null <<'EOF'
import importlib.metadata, sys
for pin in sys.argv[1:]:
    name, version = pin.split("==")
    if importlib.metadata.version(name.split("[")[0]) != version:
        sys.exit(1)
EOF
}
if ! venv_ready; then
  echo "installing ${venv_pins[*]} into .venv (S3/SQS tests, other engines over the lake)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --no-cache-dir --disable-pip-version-check "${venv_pins[@]}"
  venv_ready || { echo "error: .venv lacks one of ${venv_pins[*]}" >&2; exit 1; }
fi
export TARN_MOTO_SERVER="$PWD/.venv/bin/moto_server"
export TARN_PYTHON="$PWD/.venv/bin/python"
features=(--features fault-injection)
cargo fmt --check || { echo "error: the code is not formatted; run cargo fmt" >&2; exit 1; }
python3 scripts/structure.py --check
cargo clippy --locked --all-targets "${features[@]}" -- -D warnings
cargo build --locked --bins "${features[@]}"
cargo test --locked --no-fail-fast "${features[@]}"
cargo run --locked --quiet "${features[@]}" --bin tarn -- rules test rules/ --strict
cargo run --locked --quiet "${features[@]}" --bin tarn -- rules coverage rules/ --check rules/README.md
