#!/usr/bin/env bash
# Sets graft up and runs its main job on the bundled demo set (demo/fruits-mini): train the
# default recipe, score it on Test, write the report, and classify two photos.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run=runs/demo
rm -rf "$run"
./target/release/graft devices
./target/release/graft train --data demo/fruits-mini --out "$run"
./target/release/graft predict --run "$run" --top-k 3 "demo/fruits-mini/Test/Kiwi/33_100.jpg" "demo/fruits-mini/Test/Banana/26_100.jpg"
echo "report: $run/report.html"
