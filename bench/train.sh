#!/usr/bin/env bash
# graft's default training recipe against PyTorch doing the same recipe (same weights, data,
# resolution, frozen blocks and cache, optimizer, schedule, epochs, threads), one run each, on the
# shared Fruits-360 set, in graft's default precision (bf16 on a CPU with bf16 instructions:
# PyTorch then runs under torch.autocast too). Prints wall time and test accuracy of each, and
# the time ratio.
# Usage: bench/train.sh   (env: DATA, THREADS)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/fruits-360-2019-half}
THREADS=${THREADS:-2}
bash scripts/setup.sh >/dev/null
.venv/bin/python -c "import PIL, numpy" 2>/dev/null || .venv/bin/python -m pip install -q --disable-pip-version-check pillow numpy
WEIGHTS="${GRAFT_HOME:-$HOME/.cache/graft}/originals/default_1.pt"
[ -f "$WEIGHTS" ] || ./target/release/graft weights fetch inception-v3 >/dev/null
run=$(mktemp -d)/run; trap 'rm -rf "$(dirname "$run")"' EXIT

# The recipe's settings, read from graft's own config so both sides use the same ones.
./target/release/graft --threads "$THREADS" train --data "$DATA" --out "$run" 2> "$run.log" &
pid=$!; start=$(date +%s.%N); wait $pid; graft_s=$(python3 -c "import time; print(time.time() - $start)")
graft_acc=$(python3 -c "import json; print(json.load(open('$run/metrics.json'))['test_accuracy'])")
args=$(python3 - "$run/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
o = c["optimizer"]
print(f"--size {c['size']} --freeze {c['freeze']['through']} --epochs {c['epochs']} --patience {c['patience']} "
      f"--batch {c['batch_size']} --lr {o['lr']} --dropout {c['head']['dropout']} --schedule {c.get('schedule', 'constant')} "
      f"--batchnorm {'train' if c.get('batchnorm_train', True) else 'frozen'} --max-per-class {c.get('max_per_class') or 0} "
      f"--label-smoothing {c.get('label_smoothing', 0.0)} --precision {c.get('precision', 'fp32')}")
PY
)
torch_json=$(.venv/bin/python bench/train_pytorch.py --weights "$WEIGHTS" --data "$DATA" --threads "$THREADS" $args)
torch_s=$(python3 -c "import json; print(json.loads('''$torch_json''')['seconds'])")
torch_acc=$(python3 -c "import json; print(json.loads('''$torch_json''')['test_accuracy'])")
echo "machine: $(nproc) cores, threads=$THREADS; recipe: $args"
grep -E "^graft: cached|^epoch" "$run.log" | sed 's/^/  graft   /'
echo "  pytorch $torch_json"
printf 'graft   %6.1f s, test accuracy %.4f\nPyTorch %6.1f s, test accuracy %.4f\nspeed ratio (PyTorch time / graft time) %.2fx\n' \
    "$graft_s" "$graft_acc" "$torch_s" "$torch_acc" "$(python3 -c "print($torch_s / $graft_s)")"
