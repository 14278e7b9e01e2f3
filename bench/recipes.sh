#!/usr/bin/env bash
# The default recipe (`graft train --data D`, nothing else) on every dataset folder under
# DATA_ROOT, one run each, scored once on its Test: test accuracy, best validation accuracy,
# wall time against the time budget's plan, peak RSS, what the plan chose, and the published
# anchor for that kind of data.
# Usage: bench/recipes.sh   (env: DATA_ROOT=../shared/data, THREADS=2, KEEP=dir to keep the runs)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-../shared/data}
THREADS=${THREADS:-2}
bash scripts/setup.sh >/dev/null
cargo build --release --quiet
GRAFT=./target/release/graft
[ -f "${GRAFT_HOME:-$HOME/.cache/graft}/originals/default_1.pt" ] || $GRAFT weights fetch inception-v3 >/dev/null
work=${KEEP:-$(mktemp -d)}
mkdir -p "$work"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT

# Published anchors, for the table only (nothing in graft reads them).
anchor() {
    case "$1" in
        fruits-360*) echo "99% (the seed: Keras InceptionV3 fine-tuned at 299 px, GPU)" ;;
        cats-dogs*) echo "~98% (TensorFlow tutorial: MobileNetV2, upper layers fine-tuned)" ;;
        *) echo "—" ;;
    esac
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$THREADS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for data in "$DATA_ROOT"/*/; do
    name=$(basename "$data")
    run="$work/$name"
    rm -rf "$run"
    echo "== $name"
    /usr/bin/time -f "%e %M" -o "$run.time" \
        $GRAFT --threads "$THREADS" train --data "$data" --out "$run" 2> "$run.log" || {
        tail -5 "$run.log"
        echo "  failed: see $run.log"
        continue
    }
    grep -E "^graft: (plan|budget):" "$run.log" | sed 's/^/  /' || true
    planned=$(grep -oE "planned [0-9]+ s" "$run.log" | grep -oE "[0-9]+" || echo "")
    read -r wall rss_kib < "$run.time"
    row=$(python3 - "$run" "$name" "$wall" "$rss_kib" "$(anchor "$name")" "$planned" <<'PY'
import json, sys
run, name, wall, rss_kib, anchor, planned = sys.argv[1:]
m = json.load(open(f"{run}/metrics.json"))
c = json.load(open(f"{run}/config.json"))
cap = c.get("max_per_class") or "all"
print(f"| {name} | {100 * m['test_accuracy']:.2f}% | {100 * m['best_val_accuracy']:.2f}% "
      f"| {float(wall):.0f} s | {planned + ' s' if planned else '—'} | {int(rss_kib) / 1024 / 1024:.2f} GiB | {c['size']} px, per class {cap}, "
      f"balance {c.get('balance', '?')} | {anchor} |")
PY
)
    echo "  $row"
    rows+=("$row")
done
echo
echo "| data | test accuracy | validation accuracy | wall | planned | peak RSS | plan | published anchor |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
