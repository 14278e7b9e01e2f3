#!/usr/bin/env bash
# Exported models against graft's own forward pass: images/s of onnxruntime (CPU) on the ONNX
# file and of PyTorch on the TorchScript file that `graft export` writes, next to graft's
# Predictor (what `graft predict` runs), on the same preprocessed images, same batch, same
# threads, decoding excluded. Alternating runs, best of ROUNDS. Trains small demo runs at the
# backbones' default sizes (InceptionV3 187 px, EfficientNet-Lite0 224 px) unless RUNS names
# run folders.
# Usage: bench/export.sh [ROUNDS]   (env: THREADS, BATCH, PASSES, RUNS="RUN1 RUN2 ...")
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
THREADS=${THREADS:-2}
BATCH=${BATCH:-16}
PASSES=${PASSES:-3}
bash scripts/setup.sh >/dev/null
.venv/bin/python -m pip install --disable-pip-version-check -q -r tests/python/requirements.txt
cargo build --release --quiet --example export_speed
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
graft=./target/release/graft

if [ -z "${RUNS:-}" ]; then
    RUNS=""
    for backbone in inception-v3 efficientnet-lite0; do
        $graft --threads "$THREADS" train --data demo/fruits-mini --backbone "$backbone" \
            --freeze all --epochs 1 --out "$tmp/run-$backbone" >/dev/null 2>&1
        RUNS="$RUNS $tmp/run-$backbone"
    done
fi
# 48 photos: 3 batches of 16 per pass.
find demo/fruits-mini/Test -name '*.jpg' | sort > "$tmp/list"
n=$(wc -l < "$tmp/list")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads=$THREADS batch=$BATCH, $n images x $PASSES passes"
echo "onnxruntime $(.venv/bin/python -c 'import onnxruntime; print(onnxruntime.__version__)'), PyTorch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
best() { printf '%s\n' "$@" | sort -g | tail -1; }
for run in $RUNS; do
    backbone=$(.venv/bin/python -c "import json,sys; c=json.load(open(sys.argv[1])); print(c['backbone'], c['size'])" "$run/config.json")
    $graft export "$run" --format onnx --out "$tmp/m.onnx" >/dev/null
    $graft export "$run" --format torchscript --out "$tmp/m.pt" >/dev/null
    g=(); o=(); t=()
    for _ in $(seq "$ROUNDS"); do
        g+=("$(./target/release/examples/export_speed "$run" "$tmp/list" "$BATCH" "$PASSES" "$THREADS" "$tmp/pixels.npy")")
        o+=("$(.venv/bin/python bench/export_runtimes.py onnx "$tmp/m.onnx" "$tmp/pixels.npy" "$BATCH" "$PASSES" "$THREADS")")
        t+=("$(.venv/bin/python bench/export_runtimes.py torchscript "$tmp/m.pt" "$tmp/pixels.npy" "$BATCH" "$PASSES" "$THREADS")")
    done
    gb=$(best "${g[@]}"); ob=$(best "${o[@]}"); tb=$(best "${t[@]}")
    printf '%s px: graft %6.1f img/s, onnxruntime %6.1f img/s (%.2fx graft), TorchScript %6.1f img/s (%.2fx graft)  (runs: graft %s; onnxruntime %s; torchscript %s)\n' \
        "$backbone" "$gb" "$ob" "$(python3 -c "print($ob / $gb)")" "$tb" "$(python3 -c "print($tb / $gb)")" "${g[*]}" "${o[*]}" "${t[*]}"
done
