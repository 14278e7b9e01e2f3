#!/usr/bin/env bash
# graft embed vs PyTorch doing the same job (InceptionV3, same weights, images, size, batch and
# threads), alternating runs, on the shared Fruits-360 photos, in fp32 and in bf16 (both sides
# under their bf16 autocast). Prints images/s and the ratio.
# Usage: bench/embed.sh [ROUNDS]   (env: DATA, THREADS, BATCH, PRECISIONS="fp32 bf16")
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
DATA=${DATA:-../shared/data/fruits-360-2019-half}
THREADS=${THREADS:-2}
BATCH=${BATCH:-32}
PRECISIONS=${PRECISIONS:-fp32 bf16}
bash scripts/setup.sh >/dev/null
.venv/bin/python -c "import PIL, numpy" 2>/dev/null || .venv/bin/python -m pip install -q --disable-pip-version-check pillow numpy
WEIGHTS=$(./target/release/graft weights list >/dev/null; .venv/bin/python - <<'PY'
import os; print(os.path.join(os.environ.get("GRAFT_HOME", os.path.expanduser("~/.cache/graft")), "originals", "default_1.pt"))
PY
)
[ -f "$WEIGHTS" ] || ./target/release/graft weights fetch inception-v3 >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

graft_rate() { # size list precision
    mapfile -t files < "$2"
    ./target/release/graft --threads "$THREADS" --precision "$3" embed --backbone inception-v3 --size "$1" --batch "$BATCH" \
        --out "$tmp/f.safetensors" "${files[@]}" 2>&1 | sed -n 's/.*(\([0-9.]*\) images\/s).*/\1/p'
}
torch_rate() { # size list precision
    .venv/bin/python bench/embed_pytorch.py --weights "$WEIGHTS" --size "$1" --batch "$BATCH" --threads "$THREADS" --list "$2" --precision "$3"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads=$THREADS batch=$BATCH"
for precision in $PRECISIONS; do
for spec in 100:1600 299:192; do
    size=${spec%%:*}; count=${spec##*:}
    find "$DATA/Test" -name '*.jpg' | sort | awk -v n="$count" 'NR % 5 == 1 && c < n { print; c++ }' > "$tmp/list"
    n=$(wc -l < "$tmp/list")
    g=(); t=()
    for r in $(seq "$ROUNDS"); do
        g+=("$(graft_rate "$size" "$tmp/list" "$precision")")
        t+=("$(torch_rate "$size" "$tmp/list" "$precision")")
    done
    best() { printf '%s\n' "$@" | sort -g | tail -1; }
    gb=$(best "${g[@]}"); tb=$(best "${t[@]}")
    printf '%s, size %3d px, %4d images: graft %7.1f img/s, PyTorch %7.1f img/s, ratio %.2fx  (runs: graft %s; pytorch %s)\n' \
        "$precision" "$size" "$n" "$gb" "$tb" "$(python3 -c "print($gb / $tb)")" "${g[*]}" "${t[*]}"
done
done
