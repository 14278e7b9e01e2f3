#!/usr/bin/env bash
# Data-parallel overhead on this machine: the all-reduce of the default recipe's gradients
# between 2 ranks over loopback (Gloo, launched by the venv's torchrun), next to the compute of
# one training step on cached features (examples/step_speed, batch 64 and its half). On one
# 2-core machine two ranks cannot run faster than one; this shows what a step would pay to
# communicate, from which scaling over machines is projected (see README).
# Usage: bench/allreduce.sh   (env: REPEATS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cargo build --release --quiet --example allreduce_speed --example step_speed
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== all-reduce over 2 ranks (1 thread each)"
.venv/bin/torchrun --standalone --nproc-per-node 2 --no-python -- \
    target/release/examples/allreduce_speed "${REPEATS:-10}" 2>&1 | grep -v "^W1\|^\*\|OMP_NUM_THREADS" || true
for batch in 64 32; do
    echo "== one training step on cached mixed_7 outputs (171 px: 9x9), batch $batch, 2 threads"
    target/release/examples/step_speed "$batch" 9 | grep -v "^write\|checkpoint"
done
