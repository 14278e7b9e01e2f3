#!/usr/bin/env bash
# Sets graft up and runs it on the bundled demo set (demo/fruits-mini).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p runs
echo "== graft embed: InceptionV3 features of the demo photos"
./target/release/graft embed --backbone inception-v3 --size 299 --out runs/demo-features.json --format json demo/fruits-mini
