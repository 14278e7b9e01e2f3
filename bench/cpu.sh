#!/usr/bin/env bash
# graft's inference on this CPU against what a user would run instead, per backbone at its
# native size: images/s of graft fp32, bf16 (where the CPU has AVX512-BF16) and int8 (a demo run
# calibrated by graft quantize), PyTorch at its best (TorchScript export, the faster of as
# loaded and frozen + optimize_for_inference, channels-last) and onnxruntime on graft's ONNX
# export (fp32, and int8 from `graft export --int8` where the run calibrated). Forward only on the same preprocessed images (batch 16), then end to end over a folder
# of photos (decode + resize + forward: graft predict against onnxruntime + Pillow in one Python
# thread). Then the forward pass's GFLOP per image against this CPU's fp32 peak (cores x 2 FMA
# units x lanes x 2 x clock: an estimate, the clock from /proc/cpuinfo).
# Usage: bench/cpu.sh [ROUNDS]   (env: THREADS; PHOTOS, LIMIT: the end-to-end folder and how many of its photos)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
THREADS=${THREADS:-2}
PHOTOS=${PHOTOS:-../shared/data/cats-dogs-small/test}
LIMIT=${LIMIT:-160}
bash scripts/setup.sh >/dev/null
.venv/bin/python -m pip install --disable-pip-version-check -q -r tests/python/requirements.txt
cargo build --release --quiet --bin graft --example export_speed
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
graft="./target/release/graft --threads $THREADS"
py=.venv/bin/python
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
find demo/fruits-mini/Test -name '*.jpg' | sort > "$tmp/list"
find "$PHOTOS" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort | head -n "$LIMIT" > "$tmp/photos"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); avx2 $(has avx2 && echo yes || echo no), avx512f $(has avx512f && echo yes || echo no), avx512_bf16 $(has avx512_bf16 && echo yes || echo no), avx512_vnni $(has avx512_vnni && echo yes || echo no); threads=$THREADS"
echo "onnxruntime $($py -c 'import onnxruntime; print(onnxruntime.__version__)'), PyTorch $($py -c 'import torch; print(torch.__version__)'); forward: $(wc -l < "$tmp/list") demo photos x 3 passes; end to end: $(wc -l < "$tmp/photos") photos of $PHOTOS"
best() { printf '%s\n' "$@" | sort -g | tail -1; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }
lanes=8; has avx512f && lanes=16
mhz=$(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | xargs)
peak=$(python3 -c "print($(nproc) * 2 * $lanes * 2 * $mhz / 1000)")
for spec in inception-v3:299 efficientnet-lite0:224; do
    backbone=${spec%:*}; size=${spec#*:}; run=$tmp/run-$backbone
    $graft train --data demo/fruits-mini --backbone "$backbone" --size "$size" --freeze all \
        --epochs 1 --out "$run" >/dev/null 2>&1
    $graft export "$run" --format onnx --out "$tmp/m.onnx" >/dev/null
    $graft export "$run" --format torchscript --out "$tmp/m.pt" >/dev/null
    precisions="fp32"; has avx512_bf16 && precisions="$precisions bf16"
    rm -f "$tmp/m-int8.onnx"
    if quant=$($graft quantize --run "$run" 2>&1); then
        precisions="$precisions int8"
        $graft export "$run" --format onnx --int8 --out "$tmp/m-int8.onnx" >/dev/null
    fi
    echo "== $backbone at $size px; graft quantize: $(echo "$quant" | tail -1)"
    declare -A g=(); o=(); t=(); q=()
    for _ in $(seq "$ROUNDS"); do
        for p in $precisions; do
            g[$p]="${g[$p]:-} $(PRECISION=$p ./target/release/examples/export_speed "$run" "$tmp/list" 16 3 "$THREADS" "$tmp/pixels.npy")"
        done
        o+=("$($py bench/export_runtimes.py onnx "$tmp/m.onnx" "$tmp/pixels.npy" 16 3 "$THREADS")")
        [ -f "$tmp/m-int8.onnx" ] && q+=("$($py bench/export_runtimes.py onnx "$tmp/m-int8.onnx" "$tmp/pixels.npy" 16 3 "$THREADS")")
        t+=("$($py bench/export_runtimes.py pytorch-best "$tmp/m.pt" "$tmp/pixels.npy" 16 3 "$THREADS")")
    done
    ob=$(best "${o[@]}"); tb=$(best "${t[@]}"); gf=$(best ${g[fp32]})
    printf 'forward     onnxruntime fp32 %7.1f img/s | PyTorch best %7.1f img/s\n' "$ob" "$tb"
    [ ${#q[@]} -gt 0 ] && printf 'forward     onnxruntime int8 (graft export --int8) %7.1f img/s\n' "$(best "${q[@]}")"
    for p in $precisions; do
        gb=$(best ${g[$p]})
        printf 'forward     graft %-4s %7.1f img/s: %s onnxruntime, %s PyTorch best, %s graft fp32\n' \
            "$p" "$gb" "$(ratio "$gb" "$ob")" "$(ratio "$gb" "$tb")" "$(ratio "$gb" "$gf")"
    done
    gflop=$($py bench/onnx_flops.py "$tmp/m.onnx")
    python3 -c "print(f'limit       {$gflop:.2f} GFLOP per image; graft fp32 {$gf * $gflop:.0f} GFLOP/s = {100 * $gf * $gflop / $peak:.0f}% of an estimated fp32 peak of {$peak:.0f} GFLOP/s')"
    oe=(); declare -A ge=()
    for _ in $(seq "$ROUNDS"); do
        oe+=("$($py bench/ort_folder.py "$tmp/m.onnx" "$size" "$tmp/photos" "$THREADS" 16)")
        for p in $precisions; do
            s=$(date +%s.%N)
            xargs -a "$tmp/photos" -d '\n' $graft --precision "$p" predict --run "$run" >/dev/null 2>&1
            ge[$p]="${ge[$p]:-} $(python3 -c "print($(wc -l < "$tmp/photos") / ($(date +%s.%N) - $s))")"
        done
    done
    oeb=$(best "${oe[@]}")
    printf 'end to end  onnxruntime + Pillow %7.1f img/s\n' "$oeb"
    for p in $precisions; do
        gb=$(best ${ge[$p]})
        printf 'end to end  graft predict %-4s %7.1f img/s: %s onnxruntime + Pillow\n' "$p" "$gb" "$(ratio "$gb" "$oeb")"
    done
    unset g ge
done
