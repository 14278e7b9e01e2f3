#!/usr/bin/env bash
# graft serve against the service a PyTorch user would write (bench/serve_pytorch.py: FastAPI +
# uvicorn, one worker, torch with 2 threads and inference_mode, one image per forward pass), on
# the same run (same weights), same machine, over loopback, driven by the same load generator
# (examples/serve_load.rs) with the demo's Test photos as raw bodies:
#   1. both services give the same probabilities (identical pixels: lossless PNGs at the run's
#      size, so decoders and resizers play no part; then the JPEGs themselves);
#   2. throughput and p50/p99 latency at concurrency 1, 8 and 32, side by side with ratios;
#   3. the single-image forward time (offline, and inside the service) against p50 at c=1;
#   4. 60 s of overload at 4x graft's measured capacity: every answer 200 or 503, RSS flat.
# Usage: bench/serve.sh [RUN]   (default RUN: runs/serve-bench, trained at the default 187 px on
#        demo/fruits-mini when missing; env: THREADS=2, DURATION=20 s per service and point,
#        ROUNDS=4 alternating slices per point, OVERLOAD_SECONDS=60, PT_ENDPOINT=async|def,
#        GRAFT_PORT, PYTORCH_PORT). The measuring is bench/serve_bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-4}
OVERLOAD_SECONDS=${OVERLOAD_SECONDS:-60}
PT_ENDPOINT=${PT_ENDPOINT:-async}
GRAFT_PORT=${GRAFT_PORT:-18080}
PYTORCH_PORT=${PYTORCH_PORT:-18081}
RUN=${1:-runs/serve-bench}
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY # loopback only

bash scripts/setup.sh >/dev/null
.venv/bin/python -c "import fastapi, uvicorn, PIL, numpy, safetensors" 2>/dev/null ||
    .venv/bin/python -m pip install -q --disable-pip-version-check fastapi uvicorn pillow numpy safetensors
cargo build --release --quiet --example serve_load --example forward_speed
GRAFT=./target/release/graft
LOAD=./target/release/examples/serve_load
WEIGHTS="${GRAFT_HOME:-$HOME/.cache/graft}/originals/default_1.pt"
[ -f "$WEIGHTS" ] || $GRAFT weights fetch inception-v3 >/dev/null
if [ ! -f "$RUN/model.safetensors" ]; then
    echo "== training $RUN (default recipe on demo/fruits-mini)"
    $GRAFT --threads "$THREADS" train --data demo/fruits-mini --out "$RUN" 2>&1 | tail -1
fi
SIZE=$(python3 -c "import json; print(json.load(open('$RUN/config.json'))['size'])")
mapfile -t IMAGES < <(find demo/fruits-mini/Test -name '*.jpg' | sort)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

GRAFT_URL=http://127.0.0.1:$GRAFT_PORT
TORCH_URL=http://127.0.0.1:$PYTORCH_PORT
$GRAFT --threads "$THREADS" serve "$RUN" --name bench --addr 127.0.0.1:$GRAFT_PORT --log-format json 2> "$tmp/graft.log" &
GRAFT_PID=$!; pids+=("$GRAFT_PID")
.venv/bin/python bench/serve_pytorch.py --run "$RUN" --weights "$WEIGHTS" --port "$PYTORCH_PORT" \
    --threads "$THREADS" --endpoint "$PT_ENDPOINT" > "$tmp/pytorch.log" 2>&1 &
TORCH_PID=$!; pids+=("$TORCH_PID")
for url in "$GRAFT_URL/readyz" "$TORCH_URL/healthz"; do
    for _ in $(seq 600); do curl -sf "$url" >/dev/null && break; sleep 0.5; done
    curl -sf "$url" >/dev/null || { cat "$tmp"/*.log; echo "no answer from $url"; exit 1; }
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "run: $RUN ($(python3 -c "import json; c = json.load(open('$RUN/config.json')); print(c['backbone'], c['size'], 'px')")); threads=$THREADS; PyTorch endpoint: $PT_ENDPOINT"

printf '%s\n' "${IMAGES[@]}" > "$tmp/images"
.venv/bin/python bench/serve_bench.py --graft "$GRAFT_URL" --torch "$TORCH_URL" --graft-pid "$GRAFT_PID" \
    --size "$SIZE" --tmp "$tmp" --images "$tmp/images" --load "$LOAD" --forward-speed ./target/release/examples/forward_speed \
    --duration "$DURATION" --rounds "$ROUNDS" --overload "$OVERLOAD_SECONDS"
echo "  graft's overload counters: $(curl -s "$GRAFT_URL/metrics" | grep '^graft_overload_rejections_total' | tr '\n' ' ')"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
