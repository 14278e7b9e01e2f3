#!/usr/bin/env bash
# Runs graft's whole test suite, installing what it needs first (libtorch, weights, the headless
# Chromium and Graphviz that the report tests use, and onnx, onnxruntime and Pillow in .venv for
# the export tests).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /usr/bin/chromium ] || ! command -v dot >/dev/null; then
    echo "== installing chromium and graphviz (Debian packages)"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium graphviz >/dev/null
fi
bash scripts/setup.sh
echo "== Python packages of the export tests (tests/python/requirements.txt) into .venv"
.venv/bin/python -m pip install --disable-pip-version-check -q -r tests/python/requirements.txt
echo "== checks: formatting, clippy (function size included), then the tests"
cargo fmt --all -- --check
cargo clippy --release --all-targets --quiet -- -D warnings
cargo test --release
