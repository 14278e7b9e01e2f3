#!/usr/bin/env bash
# Does the validation signal rank what a user might try in the order Test does? A small grid of
# graft's own options on every dataset folder under DATA_ROOT, each run scored on its held-out
# validation images (best epoch: the lowest validation loss) and once on Test; with the hold-out
# the plan chooses for the data, and also with the other rule where it differs (`random` vs
# `blocks`).
# The budget is off (`--time-budget none`) so that every variant trains on the same images
# whatever the machine's load: the table compares settings, not luck with timing.
# Usage: bench/variants.sh   (env: DATA_ROOT=../shared/data, THREADS=2, KEEP=dir to keep runs,
#                              ONLY=name to run one dataset, OTHER=0 to skip the other hold-out)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-../shared/data}
THREADS=${THREADS:-2}
OTHER=${OTHER:-1}
bash scripts/setup.sh >/dev/null
cargo build --release --quiet
GRAFT=./target/release/graft
[ -f "${GRAFT_HOME:-$HOME/.cache/graft}/originals/default_1.pt" ] || $GRAFT weights fetch inception-v3 >/dev/null
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

# The grid: name and options (the same for every dataset).
variants=(
    "plan|"
    "head-only|--freeze all"
    "139px|--size 139"
)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$THREADS"
results="$work/results.tsv"
: > "$results"
for data in "$DATA_ROOT"/*/; do
    name=$(basename "$data")
    [ -z "${ONLY:-}" ] || [ "$ONLY" = "$name" ] || continue
    other=""
    for v in "${variants[@]}"; do
        for h in plan other; do
            if [ "$h" = other ]; then
                [ "$OTHER" = 1 ] || continue
                h=$other
            fi
            vname=${v%%|*}
            opts=${v#*|}
            hold=()
            [ "$h" = plan ] || hold=(--holdout "$h")
            run="$work/$name-$vname-$h"
            rm -rf "$run"
            /usr/bin/time -f "%e" -o "$run.time" \
                $GRAFT --threads "$THREADS" train --data "$data" --out "$run" --time-budget none \
                $opts "${hold[@]}" 2> "$run.log" || {
                tail -3 "$run.log"
                echo "  $name $vname $h failed: see $run.log"
                continue
            }
            python3 - "$run" "$name" "$vname" "$(cat "$run.time")" >> "$results" <<'PY'
import csv, json, sys
run, name, variant, wall = sys.argv[1:]
m = json.load(open(f"{run}/metrics.json"))
c = json.load(open(f"{run}/config.json"))
best = [r for r in csv.DictReader(open(f"{run}/history.csv")) if int(r["epoch"]) == m["best_epoch"]][0]
print("\t".join([name, variant, c.get("holdout", "random"), f"{m['best_val_accuracy']:.4f}",
                 f"{float(best['val_loss']):.4f}", f"{m['test_accuracy']:.4f}", f"{float(wall):.0f}",
                 f"{m['test_loss']:.4f}"]))
PY
            tail -1 "$results" | sed "s/^/  /"
            # The other rule is the one the plan did not choose.
            if [ -z "$other" ]; then
                [ "$(tail -1 "$results" | cut -f3)" = blocks ] && other=random || other=blocks
            fi
        done
    done
done
python3 - "$results" <<'PY'
import sys
from itertools import combinations
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print("\n| data | variant | hold-out | validation accuracy | validation loss | Test accuracy | Test loss | wall |")
print("|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} | {100*float(r[3]):.2f}% | {r[4]} | {100*float(r[5]):.2f}% | {r[7]} | {r[6]} s |")
print("\n| data | hold-out | pairs of variants in Test's order | validation picks | Test's best |")
print("|---|---|---|---|---|")
groups = {}
for r in rows:
    groups.setdefault((r[0], r[2]), []).append(r)
for (data, hold), rs in groups.items():
    # Validation's order: the lower loss first (graft's best-epoch rule).
    key = lambda r: (-float(r[4]), float(r[3]))
    agree = sum(1 for a, b in combinations(rs, 2)
                if (key(a) > key(b)) == (float(a[5]) > float(b[5])) and float(a[5]) != float(b[5]))
    ties = sum(1 for a, b in combinations(rs, 2) if float(a[5]) == float(b[5]))
    pairs = len(rs) * (len(rs) - 1) // 2 - ties
    pick = max(rs, key=key)
    top = max(rs, key=lambda r: float(r[5]))
    print(f"| {data} | {hold} | {agree} of {pairs} | {pick[1]} ({100*float(pick[5]):.2f}%) | {top[1]} ({100*float(top[5]):.2f}%) |")
PY
