"""The measuring half of bench/serve.sh (which builds, trains if needed and starts both services):
parity, the single-image forward time, load at concurrency 1, 8 and 32, and the overload run.

Load points alternate between the two services in short slices (ROUNDS per point), so that both
see the same share of a machine that other work may be using; each slice starts with 2 s of
warm-up load that is not counted. Prints a Markdown table with ratios, and the goals."""
import argparse, json, subprocess, sys, urllib.request

from PIL import Image


def ask(url, body):
    req = urllib.request.Request(url + "/v1/models/bench/predict?top_k=100", data=body,
                                 headers={"content-type": "application/octet-stream"})
    return {p["class"]: p["probability"] for p in json.load(urllib.request.urlopen(req))["predictions"]}


def parity(a, images):
    """Identical pixels first (lossless PNGs at the run's size: no decoder or resizer involved),
    then the JPEGs as they are (Pillow's and graft's decoders and resizers differ slightly)."""
    picked = images[:: max(1, len(images) // 8)][:8]
    for kind in ("png", "jpeg"):
        worst, agree = 0.0, 0
        for path in picked:
            if kind == "png":
                out = f"{a.tmp}/same.png"
                Image.open(path).convert("RGB").resize((a.size, a.size), Image.BILINEAR).save(out)
                path = out
            body = open(path, "rb").read()
            g, t = ask(a.graft, body), ask(a.torch, body)
            worst = max(worst, max(abs(g[c] - t[c]) for c in g))
            agree += max(g, key=g.get) == max(t, key=t.get)
        print(f"  {kind:4} ({len(picked)} images): largest probability difference {worst:.1e}, same top class {agree}/{len(picked)}")
        if kind == "png" and worst > 1e-4:
            sys.exit("the two services do not compute the same model")


def metric(a, name):
    """Sum of a graft metric's samples."""
    text = urllib.request.urlopen(a.graft + "/metrics").read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.split("{")[0].split(" ")[0] == name)


def load(a, url, images, **kw):
    args = [a.load, url + "/v1/models/bench/predict", "--images", *images, "--raw"]
    for k, v in kw.items():
        args += [f"--{k}", str(v)]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs), max(1, -(-len(xs) * p // 100))) - 1] if xs else float("nan")


def point(a, images, c):
    """Alternating slices at concurrency c; merged counts and latencies per service."""
    merged = {s: {"ok_ms": [], "unavailable": 0, "other_status": 0, "errors": 0} for s in ("graft", "torch")}
    fwd = [0.0, 0.0, 0.0]  # forward seconds, passes, images (graft, measured slices only)
    slice_s = a.duration / a.rounds
    for _ in range(a.rounds):
        before = [metric(a, n) for n in ("graft_forward_seconds_sum", "graft_forward_seconds_count", "graft_batch_size_sum")]
        r = load(a, a.graft, images, concurrency=c, duration=slice_s, warmup=2)
        after = [metric(a, n) for n in ("graft_forward_seconds_sum", "graft_forward_seconds_count", "graft_batch_size_sum")]
        fwd = [f + y - x for f, x, y in zip(fwd, before, after)]
        for service, res in (("graft", r), ("torch", load(a, a.torch, images, concurrency=c, duration=slice_s, warmup=2))):
            m = merged[service]
            m["ok_ms"] += res["ok_ms"]
            for k in ("unavailable", "other_status", "errors"):
                m[k] += res[k]
    for m in merged.values():
        m["throughput"] = len(m["ok_ms"]) / a.duration
        m["p50"], m["p99"] = percentile(m["ok_ms"], 50), percentile(m["ok_ms"], 99)
    # The warm-up seconds of each slice are in the metrics' deltas too; the means are unaffected.
    merged["graft"]["forward_ms"] = 1000 * fwd[0] / max(1, fwd[1])
    merged["graft"]["mean_batch"] = fwd[2] / max(1, fwd[1])
    return merged


def offline_forward(a):
    """The best of three runs of examples/forward_speed at batch 1 (the least disturbed)."""
    best = 0.0
    for _ in range(3):
        out = subprocess.run([a.forward_speed, str(a.size), "1", "inception-v3"], check=True, capture_output=True, text=True).stdout
        best = max(best, float(out.strip().splitlines()[-1].split(": ")[1].split()[0]))
    return 1000 / best


def overload(a, images, capacity):
    rate = round(4 * capacity, 1)
    print(f"\n== 4. overload: {rate} req/s (4x the {capacity:.1f} req/s graft answered at c=32) for {a.overload} s, open loop")
    r = load(a, a.graft, images, rate=rate, duration=a.overload, pid=a.graft_pid, timeout=120)
    rss = r["rss_mb"]
    total = r["ok"] + r["unavailable"] + r["other_status"] + r["errors"]
    print(f"  {total} requests: {r['ok']} answered 200 ({r['throughput']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms), "
          f"{r['unavailable']} answered 503, {r['other_status']} other statuses, {r['errors']} without answer")
    print(f"  graft serve RSS (MiB, sampled every second): first {rss[0]:.0f}, min {min(rss):.0f}, max {max(rss):.0f}, last {rss[-1]:.0f};"
          f" every 10 s: {' '.join(f'{m:.0f}' for m in rss[::10])}")
    print("  every request answered 200 or 503:", "yes" if r["other_status"] == 0 and r["errors"] == 0 else "NO")


def main():
    ap = argparse.ArgumentParser()
    for flag in ("graft", "torch", "tmp", "load", "forward-speed", "images"):
        ap.add_argument("--" + flag, required=True)
    ap.add_argument("--graft-pid", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--overload", type=float, default=60)
    a = ap.parse_args()
    images = open(a.images).read().split("\n")
    images = [i for i in images if i]
    print("== 1. same probabilities")
    parity(a, images)
    print(f"== 2. load at concurrency 1, 8, 32: {a.duration:.0f} s per service and point, in {a.rounds} alternating slices")
    rows = []
    for c in (1, 8, 32):
        m = point(a, images, c)
        rows.append((c, m["graft"], m["torch"]))
        print(f"  c={c}: graft {m['graft']['throughput']:.1f} req/s, PyTorch {m['torch']['throughput']:.1f} req/s", flush=True)
    forward_ms = offline_forward(a)
    print("\n| concurrency | graft req/s | PyTorch req/s | throughput ratio | graft p50 / p99 ms | PyTorch p50 / p99 ms | p99 ratio (PyTorch / graft) | graft mean batch |")
    print("|---|---|---|---|---|---|---|---|")
    for c, g, t in rows:
        print(f"| {c} | {g['throughput']:.1f} | {t['throughput']:.1f} | **{g['throughput'] / t['throughput']:.2f}x** | "
              f"{g['p50']:.0f} / {g['p99']:.0f} | {t['p50']:.0f} / {t['p99']:.0f} | {t['p99'] / g['p99']:.2f}x | {g['mean_batch']:.2f} |")
    failed = [(c, s, {k: r[k] for k in ("unavailable", "other_status", "errors")}) for c, g, t in rows
              for s, r in (("graft", g), ("PyTorch", t)) if r["errors"] or r["other_status"] or r["unavailable"]]
    if failed:
        print("requests without a 200:", failed)
    g1, g32, t32 = rows[0][1], rows[2][1], rows[2][2]
    print(f"\nsingle-image forward pass: {g1['forward_ms']:.1f} ms inside graft serve at c=1 (its forward-time histogram),"
          f" {forward_ms:.1f} ms offline (examples/forward_speed, best of 3)")
    print(f"goals: throughput at c=32 {g32['throughput'] / t32['throughput']:.2f}x PyTorch's (>= 2x);"
          f" p99 at c=32 {g32['p99']:.0f} ms against {t32['p99']:.0f} ms (lower);"
          f" p50 at c=1 {g1['p50']:.1f} ms = {100 * (g1['p50'] / g1['forward_ms'] - 1):+.1f}% over the in-service forward,"
          f" {100 * (g1['p50'] / forward_ms - 1):+.1f}% over the offline one (within 10%)")
    overload(a, images, g32["throughput"])


if __name__ == "__main__":
    main()
