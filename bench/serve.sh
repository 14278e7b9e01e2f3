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
#        demo/fruits-mini when missing; env: THREADS=2, DURATION=20 s per point,
#        OVERLOAD_SECONDS=60, PT_ENDPOINT=async|def, GRAFT_PORT, PYTORCH_PORT)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
DURATION=${DURATION:-20}
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

echo "== 1. same probabilities"
.venv/bin/python - "$GRAFT_URL" "$TORCH_URL" "$SIZE" "$tmp" "${IMAGES[@]}" <<'PY'
import json, sys, urllib.request
from PIL import Image
graft, torch_url, size, tmp, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
def ask(url, body):
    req = urllib.request.Request(url + "/v1/models/bench/predict?top_k=100", data=body, headers={"content-type": "application/octet-stream"})
    return {p["class"]: p["probability"] for p in json.load(urllib.request.urlopen(req))["predictions"]}
picked = images[:: max(1, len(images) // 8)][:8]
for kind in ("png", "jpeg"):
    worst, agree = 0.0, 0
    for path in picked:
        if kind == "png":
            out = f"{tmp}/same.png"
            Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR).save(out)
            path = out
        body = open(path, "rb").read()
        g, t = ask(graft, body), ask(torch_url, body)
        worst = max(worst, max(abs(g[c] - t[c]) for c in g))
        agree += max(g, key=g.get) == max(t, key=t.get)
    print(f"  {kind:4} ({len(picked)} images): largest probability difference {worst:.1e}, same top class {agree}/{len(picked)}")
    if kind == "png" and worst > 1e-4:
        sys.exit("the two services do not compute the same model")
PY

metric() { # name: sum over the model's series in graft's /metrics
    curl -s "$GRAFT_URL/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}
load() { # url concurrency
    $LOAD "$1/v1/models/bench/predict" --concurrency "$2" --duration "$DURATION" --warmup 3 --images "${IMAGES[@]}"
}

echo "== 2. load at concurrency 1, 8, 32 ($DURATION s each, after 3 s of warm-up)"
forward_ms=$(./target/release/examples/forward_speed "$SIZE" 1 inception-v3 |
    sed -n 's/.*batch 1: \([0-9.]*\) img\/s/\1/p' | python3 -c "import sys; print(f'{1000 / float(sys.stdin.read()):.1f}')")
declare -A R
for c in 1 8 32; do
    f0=$(metric graft_forward_seconds_sum); n0=$(metric graft_forward_seconds_count); i0=$(metric graft_batch_size_sum)
    R[graft,$c]=$(load "$GRAFT_URL" "$c")
    f1=$(metric graft_forward_seconds_sum); n1=$(metric graft_forward_seconds_count); i1=$(metric graft_batch_size_sum)
    R[batch,$c]=$(python3 -c "print(f'{($i1 - $i0) / max(1, $n1 - $n0):.2f}')")
    R[fwd,$c]=$(python3 -c "print(f'{1000 * ($f1 - $f0) / max(1, $n1 - $n0):.1f}')")
    R[torch,$c]=$(load "$TORCH_URL" "$c")
    echo "  c=$c graft ${R[graft,$c]}"
    echo "  c=$c torch ${R[torch,$c]}"
done

python3 - "${R[graft,1]}" "${R[torch,1]}" "${R[graft,8]}" "${R[torch,8]}" "${R[graft,32]}" "${R[torch,32]}" \
    "${R[batch,1]}" "${R[batch,8]}" "${R[batch,32]}" "${R[fwd,1]}" "$forward_ms" <<'PY'
import json, sys
a = sys.argv[1:]
rows = [(c, json.loads(a[2 * i]), json.loads(a[2 * i + 1]), a[6 + i]) for i, c in enumerate((1, 8, 32))]
print()
print("| concurrency | graft req/s | PyTorch req/s | throughput ratio | graft p50 / p99 ms | PyTorch p50 / p99 ms | p99 ratio (PyTorch / graft) | graft mean batch |")
print("|---|---|---|---|---|---|---|---|")
for c, g, t, batch in rows:
    print(f"| {c} | {g['throughput']:.1f} | {t['throughput']:.1f} | **{g['throughput'] / t['throughput']:.2f}x** | "
          f"{g['p50_ms']:.0f} / {g['p99_ms']:.0f} | {t['p50_ms']:.0f} / {t['p99_ms']:.0f} | {t['p99_ms'] / g['p99_ms']:.2f}x | {batch} |")
bad = [(c, s) for c, g, t, _ in rows for s, r in (("graft", g), ("PyTorch", t)) if r["errors"] or r["other_status"] or r["unavailable"]]
if bad:
    print("requests that failed:", bad)
fwd_service, fwd_offline, p50 = float(a[9]), float(a[10]), rows[0][1]["p50_ms"]
print()
print(f"single-image forward pass: {fwd_offline:.1f} ms offline (examples/forward_speed), {fwd_service:.1f} ms inside graft serve at c=1;"
      f" graft p50 at c=1 {p50:.1f} ms = {p50 / fwd_offline:.2f}x the offline forward, {p50 / fwd_service:.2f}x the in-service forward")
g32, t32 = rows[2][1], rows[2][2]
print(f"goals: throughput at c=32 {g32['throughput'] / t32['throughput']:.2f}x (>= 2x), p99 at c=32 graft {g32['p99_ms']:.0f} ms vs PyTorch {t32['p99_ms']:.0f} ms (lower),"
      f" p50 at c=1 within {100 * (p50 / fwd_offline - 1):+.1f}% of the forward time (within 10%)")
PY

capacity=$(python3 -c "import json; print(json.loads('''${R[graft,32]}''')['throughput'])")
rate=$(python3 -c "print(round(4 * $capacity, 1))")
echo
echo "== 4. overload: $rate req/s (4x the $capacity req/s measured at c=32) for $OVERLOAD_SECONDS s, open loop"
overload=$($LOAD "$GRAFT_URL/v1/models/bench/predict" --rate "$rate" --duration "$OVERLOAD_SECONDS" --pid "$GRAFT_PID" --images "${IMAGES[@]}")
python3 - "$overload" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
rss = r["rss_mb"]
total = r["ok"] + r["unavailable"] + r["other_status"] + r["errors"]
print(f"  {total} requests: {r['ok']} answered 200 ({r['throughput']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms), "
      f"{r['unavailable']} answered 503, {r['other_status']} other statuses, {r['errors']} without answer")
print(f"  graft serve RSS (MiB, one sample a second): first {rss[0]:.0f}, min {min(rss):.0f}, max {max(rss):.0f}, last {rss[-1]:.0f};"
      f" every 10 s: {' '.join(f'{m:.0f}' for m in rss[::10])}")
print("  every request answered 200 or 503:", "yes" if r["other_status"] == 0 and r["errors"] == 0 else "NO")
PY
echo "  graft's overload counters: $(curl -s "$GRAFT_URL/metrics" | grep '^graft_overload_rejections_total' | tr '\n' ' ')"
