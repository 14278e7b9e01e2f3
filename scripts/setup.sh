#!/usr/bin/env bash
# Installs what graft needs on a fresh machine (Rust toolchain, Python 3 with pip and gcc
# present): libtorch from the pinned PyPI torch wheel into the project's .venv, the release
# build, and the pretrained weights. Safe to re-run: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=2.11.0 # the version tch 0.24.0's build script expects

if ! .venv/bin/python -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "== installing torch==$TORCH_VERSION (libtorch) into .venv"
    "${PYTHON:-python3}" -m venv .venv
    .venv/bin/python -m pip install --disable-pip-version-check -q "torch==$TORCH_VERSION"
fi
# .cargo/config.toml points LIBTORCH at this link.
ln -sfn "$(.venv/bin/python -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)" .libtorch

echo "== building graft (release)"
cargo build --release --quiet

cached=$(./target/release/graft weights list)
for backbone in inception-v3 efficientnet-lite0 efficientnet-lite1 efficientnet-lite2; do
    if ! grep -q "^$backbone .*cached at" <<< "$cached"; then
        echo "== fetching weights: $backbone"
        ./target/release/graft weights fetch "$backbone"
    fi
done
