#!/usr/bin/env bash
# The default recipe (`graft train --data D --precision P`, nothing else) on every dataset folder
# under DATA_ROOT, one run per precision, scored once on its Test: test accuracy, validation
# accuracy, wall time against the time budget's plan, peak RSS, what the plan chose, which
# candidate the run kept, and the published anchor for that kind of data. The candidate it did
# not keep (its weights are in the run's checkpoints/) is scored on Test too, once, to say
# whether validation ranked the two in Test's order.
# Usage: bench/recipes.sh   (env: DATA_ROOT=../shared/data, THREADS=2, PRECISIONS="fp32 auto",
#        KEEP=dir to keep the runs)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_ROOT=${DATA_ROOT:-../shared/data}
THREADS=${THREADS:-2}
PRECISIONS=${PRECISIONS:-fp32 auto}
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
ranks=()
for data in "$DATA_ROOT"/*/; do
  name=$(basename "$data")
  for precision in $PRECISIONS; do
    run="$work/$name-$precision"
    rm -rf "$run" "$run-other"
    echo "== $name ($precision)"
    /usr/bin/time -f "%e %M" -o "$run.time" \
        $GRAFT --threads "$THREADS" --precision "$precision" train --data "$data" --out "$run" 2> "$run.log" || {
        tail -5 "$run.log"
        echo "  failed: see $run.log"
        continue
    }
    grep -E "^graft: (plan|budget|frozen candidate|kept)" "$run.log" | sed 's/^/  /' || true
    planned=$(grep -oE "planned [0-9]+ s" "$run.log" | grep -oE "[0-9]+" || echo "")
    read -r wall rss_kib < "$run.time"
    # The candidate not kept, scored on Test from its saved weights in a copy of the run.
    other=""
    kept=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1])).get('choice'); print(c['kept'] if c else '')" "$run/metrics.json")
    if [ -n "$kept" ] && [ -f "$run/checkpoints/best.safetensors" ]; then
        mkdir -p "$run-other"
        cp "$run"/*.json "$run-other/"
        if [ "$kept" = frozen ]; then src=best; else src=frozen; fi
        cp "$run/checkpoints/$src.safetensors" "$run-other/model.safetensors"
        $GRAFT --threads "$THREADS" eval --run "$run-other" --json 2>/dev/null > "$run-other/eval.json" && other="$run-other/eval.json"
    fi
    out=$(python3 - "$run" "$name" "$wall" "$rss_kib" "$(anchor "$name")" "$planned" "$precision" "$other" <<'PY'
import json, sys
run, name, wall, rss_kib, anchor, planned, precision, other = sys.argv[1:]
m = json.load(open(f"{run}/metrics.json"))
c = json.load(open(f"{run}/config.json"))
h = json.load(open(f"{run}/history.json"))
cap = c.get("max_per_class") or "all"
choice = m.get("choice")
kept = choice["kept"] if choice else c.get("method", "fine-tune")
print(f"| {name} | {c['precision']} | {100 * m['test_accuracy']:.2f}% | {100 * m['best_val_accuracy']:.2f}% "
      f"| {float(wall):.0f} s | {planned + ' s' if planned else '—'} | {int(rss_kib) / 1024 / 1024:.2f} GiB | {kept} "
      f"| {c['size']} px, per class {cap}, {c['epochs']} epochs | {anchor} |")
floor = m.get("floor")
records = h if isinstance(h, list) else h.get("history", [])
if floor and records and other:
    o = json.load(open(other))
    ft_val = max(records, key=lambda r: (-r["val_loss"], r["val_accuracy"]))["val_accuracy"]
    tests = {kept: m["test_accuracy"], ("fine-tune" if kept == "frozen" else "frozen"): o["accuracy"]}
    vals = {"frozen": floor["val_accuracy"], "fine-tune": ft_val}
    test_best = max(tests, key=tests.get)
    same = "yes" if (tests["fine-tune"] == tests["frozen"] or kept == test_best) else "no"
    print(f"| {name} | {c['precision']} | {100*vals['frozen']:.2f}% | {100*vals['fine-tune']:.2f}% "
          f"| {choice['only_fine_tune']} / {choice['only_frozen']} | {kept} "
          f"| {100*tests['frozen']:.2f}% | {100*tests['fine-tune']:.2f}% | {same} |")
else:
    print("")
PY
)
    row=$(echo "$out" | sed -n 1p)
    rank=$(echo "$out" | sed -n 2p)
    echo "  $row"
    rows+=("$row")
    [ -z "$rank" ] || ranks+=("$rank")
  done
done
echo
echo "| data | precision | test accuracy | validation accuracy | wall | planned | peak RSS | kept | plan | published anchor |"
echo "|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Validation against Test, per candidate (both trained on Training alone and scored on the same validation images; images only the fine-tuned / only the frozen got right):"
echo "| data | precision | frozen validation | fine-tuned validation | only fine-tuned / only frozen | kept | frozen Test | fine-tuned Test | kept Test's better |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ranks[@]}"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
