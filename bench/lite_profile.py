"""Why EfficientNet-Lite0 runs at a fraction of InceptionV3's GFLOP/s on a CPU: its convolutions
by kind (depthwise, 1x1, full), each timed alone through libtorch (this venv's torch, the same
library graft calls) in the layout graft uses (NCHW) and in channels-last, with their share of
the network's operations. Random weights: speed does not depend on them.
Usage: .venv/bin/python bench/lite_profile.py [THREADS] [BATCH]   (defaults 2, 32)
"""
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 32
torch.set_num_threads(threads)
torch.manual_seed(0)

# EfficientNet-Lite0 at 224 px: (expansion, kernel, stride, out channels, repeats) per stage.
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


def layers(size=224):
    """(kind, in, out, kernel, stride, groups, input side) of every convolution."""
    out = [("full", 3, 32, 3, 2, 1, size)]
    side, c = (size + 1) // 2, 32
    for e, k, s, o, r in STAGES:
        for i in range(r):
            stride = s if i == 0 else 1
            mid = c * e
            if e != 1:
                out.append(("1x1", c, mid, 1, 1, 1, side))
            out.append(("depthwise", mid, mid, k, stride, mid, side))
            side = (side + stride - 1) // stride
            out.append(("1x1", mid, o, 1, 1, 1, side))
            c = o
    out.append(("1x1", c, 1280, 1, 1, 1, side))
    return out


def timed(fn, reps=3):
    fn()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


totals = {}
with torch.inference_mode():
    for kind, cin, cout, k, s, g, side in layers():
        x = torch.randn(batch, cin, side, side)
        w = torch.randn(cout, cin // g, k, k)
        b = torch.randn(cout)
        side_out = (side + s - 1) // s
        flops = 2 * batch * cout * side_out * side_out * (cin // g) * k * k
        nchw = timed(lambda: F.conv2d(x, w, b, s, k // 2, 1, g))
        xl, wl = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
        nhwc = timed(lambda: F.conv2d(xl, wl, b, s, k // 2, 1, g))
        t = totals.setdefault(kind, [0.0, 0.0, 0.0])
        t[0] += flops
        t[1] += nchw
        t[2] += nhwc

all_flops = sum(t[0] for t in totals.values())
all_nchw = sum(t[1] for t in totals.values())
all_nhwc = sum(t[2] for t in totals.values())
print(f"torch {torch.__version__}, {threads} threads, batch {batch}, 224 px, convolutions only (bias, no activation)")
print("| kind | share of operations | share of time (NCHW) | GFLOP/s NCHW | GFLOP/s channels-last |")
print("|---|---|---|---|---|")
for kind, (flops, a, b) in totals.items():
    print(f"| {kind} | {flops / all_flops:.0%} | {a / all_nchw:.0%} | {flops / a / 1e9:.0f} | {flops / b / 1e9:.0f} |")
print(f"| all | {all_flops / batch / 1e9:.2f} GFLOP per image | {all_nchw / batch * 1e3:.1f} ms per image "
      f"| {all_flops / all_nchw / 1e9:.0f} | {all_flops / all_nhwc / 1e9:.0f} ({all_nhwc / batch * 1e3:.1f} ms per image) |")
