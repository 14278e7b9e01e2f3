#!/usr/bin/env bash
# The same trained runs scored on their own Test in fp32 and in bf16 (`graft eval --precision`),
# one after the other: wall time, accuracy, loss, and how many Test images change their top class
# (at least: read from the two confusion matrices).
# Usage: bench/precision.sh RUN...   (env: THREADS=2; e.g. the runs bench/recipes.sh keeps with KEEP=dir)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
[ $# -gt 0 ] || { echo "usage: bench/precision.sh RUN..." >&2; exit 2; }
cargo build --release --quiet
GRAFT=./target/release/graft
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$THREADS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| run | fp32 accuracy / loss | bf16 accuracy / loss | top class changed | fp32 wall | bf16 wall | ratio |"
echo "|---|---|---|---|---|---|---|"
for run in "$@"; do
    for p in fp32 bf16; do
        /usr/bin/time -f "%e" -o "$tmp/$p.time" \
            $GRAFT --threads "$THREADS" --precision "$p" eval --run "$run" --json > "$tmp/$p.json"
    done
    python3 - "$run" "$tmp" <<'PY'
import json, sys
run, tmp = sys.argv[1:]
m = {p: json.load(open(f"{tmp}/{p}.json")) for p in ("fp32", "bf16")}
t = {p: float(open(f"{tmp}/{p}.time").read().split()[-1]) for p in ("fp32", "bf16")}
# Images whose (true, predicted) cell of the confusion matrix differs: at least this many
# images changed their top class.
moved = sum(abs(x - y) for ra, rb in zip(m["fp32"]["confusion"], m["bf16"]["confusion"])
            for x, y in zip(ra, rb)) // 2
row = " | ".join(f"{100 * m[p]['accuracy']:.2f}% / {m[p]['loss']:.4f}" for p in ("fp32", "bf16"))
print(f"| {run.rstrip('/').split('/')[-1]} | {row} | at least {moved} of {m['fp32']['count']} | {t['fp32']:.1f} s | {t['bf16']:.1f} s | {t['fp32'] / t['bf16']:.2f}x |")
PY
done
