#!/usr/bin/env bash
# What running as ranks costs on this machine: graft embed on the same images as 1 process (2
# threads) and as 2 torchrun ranks (1 thread each), and the all-reduce of the default recipe's gradients
# between 2 ranks over loopback (Gloo, launched by the venv's torchrun), next to the compute of
# one training step on cached features (examples/step_speed, batch 64 and its half). On one
# 2-core machine two ranks cannot run faster than one; this shows what a step would pay to
# communicate, from which scaling over machines is projected (see docs/distributed.md); and two epochs of
# graft train as 1 process and as 2 ranks: wall time, the all-reduce per step each rank logs, and
# how far apart the two trained models are.
# Usage: bench/distributed.sh   (env: REPEATS=10, IMAGES=folder of photos to embed,
#        TRAIN=dataset to train on)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo build --release --quiet --bin graft --example allreduce_speed --example step_speed
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== all-reduce over 2 ranks (1 thread each)"
.venv/bin/torchrun --standalone --nproc-per-node 2 --no-python -- \
    target/release/examples/allreduce_speed "${REPEATS:-10}" 2>&1 | grep -v "^W1\|^\*\|OMP_NUM_THREADS" || true
for batch in 64 32; do
    echo "== one training step on cached mixed_7 outputs (171 px: 9x9), batch $batch, 2 threads"
    target/release/examples/step_speed "$batch" 9 | grep -v "^write\|checkpoint"
done
IMAGES=${IMAGES:-../shared/data/fruits-360-2019-half/Test}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo "== graft embed --size 100 of $IMAGES: 1 process (2 threads), then 2 ranks (1 thread each)"
for round in 1 2; do
    /usr/bin/time -f "%e" -o "$work/t1" target/release/graft --threads 2 embed --size 100 --out "$work/one.safetensors" "$IMAGES" 2> "$work/one.log"
    /usr/bin/time -f "%e" -o "$work/t2" .venv/bin/torchrun --standalone --nproc-per-node 2 --no-python -- \
        target/release/graft --threads 1 embed --size 100 --out "$work/two.safetensors" "$IMAGES" 2> "$work/two.log"
    echo "round $round: 1 process $(cat "$work/t1") s wall; 2 ranks $(cat "$work/t2") s wall (torchrun's start included)"
    grep -h "embedded\|wrote" "$work/one.log" "$work/two.log" | sed 's/^/  /'
done
.venv/bin/python - "$work/one.safetensors" "$work/two.safetensors" <<'PY'
import json, sys
from safetensors.numpy import load_file
from safetensors import safe_open
a, b = (load_file(p)["features"] for p in sys.argv[1:])
pa, pb = (json.loads(safe_open(p, "np").metadata()["paths"]) for p in sys.argv[1:])
print(f"rows {len(a)} and {len(b)}, same paths in the same order: {pa == pb}, "
      f"largest difference {abs(a - b).max():.2e}")
PY
TRAIN=${TRAIN:-../shared/data/cats-dogs-small}
echo "== graft train --size 171 --epochs 2 of $TRAIN (default recipe, global batch 64): 1 process (2 threads), then 2 ranks (1 thread each)"
for n in 1 2; do
    run="$work/train$n"
    args=(train --data "$TRAIN" --size 171 --epochs 2 --time-budget none --out "$run")
    if [ "$n" = 1 ]; then
        /usr/bin/time -f "%e" -o "$work/t" target/release/graft --threads 2 "${args[@]}" 2> "$work/train$n.log"
    else
        /usr/bin/time -f "%e" -o "$work/t" .venv/bin/torchrun --standalone --nproc-per-node 2 --no-python -- \
            target/release/graft --threads 1 "${args[@]}" 2> "$work/train$n.log"
    fi
    echo "$n process(es): $(cat "$work/t") s wall"
    grep -h "^graft: cached\|^epoch \|rank . of 2: \(cached\|epoch\)\|test accuracy" "$work/train$n.log" | sort -u | sed 's/^/  /'
done
.venv/bin/python - "$work/train1/model.safetensors" "$work/train2/model.safetensors" <<'PY'
import sys
from safetensors.torch import load_file
a, b = (load_file(p) for p in sys.argv[1:])
num = sum(((a[k].double() - b[k].double()) ** 2).sum() for k in a)
den = sum((a[k].double() ** 2).sum() for k in a)
print(f"trained models: ||1 process - 2 ranks|| / ||1 process|| = {(num / den).sqrt().item():.2e}")
PY
