#!/usr/bin/env bash
# Runs graft's whole test suite (installing what it needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --release
