"""How far near-identical twins reach in a folder of class folders of video frames: the share of
frame pairs d files apart (path order, within a class) whose 16x16 colour thumbnails differ by at
most 6/255 on average (graft's near-identical test), for d = 1 .. 16. It explains the size of the
block that `--holdout blocks` holds out (docs/recipe.md).
Usage: .venv/bin/python bench/twins.py [TRAINING_DIR]   (default: the shared Fruits-360 Training)
"""
import os
import random
import sys

import numpy as np
from PIL import Image

root = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fruits-360-2019-half/Training"
DISTANCES = [1, 2, 3, 4, 6, 8, 12, 16]
PER_CLASS = 4


def thumb(path):
    im = Image.open(path).convert("RGB")
    return np.asarray(im.resize((16, 16), Image.BILINEAR), dtype=np.float32)


random.seed(0)
near = {d: 0 for d in DISTANCES}
pairs = 0
for c in sorted(os.listdir(root)):
    files = sorted(os.listdir(os.path.join(root, c)))
    if len(files) <= max(DISTANCES):
        continue
    for _ in range(PER_CLASS):
        i = random.randrange(0, len(files) - max(DISTANCES))
        a = thumb(os.path.join(root, c, files[i]))
        pairs += 1
        for d in DISTANCES:
            b = thumb(os.path.join(root, c, files[i + d]))
            near[d] += np.abs(a - b).mean() <= 6
print(f"{pairs} frames, each against the frame d files later")
for d in DISTANCES:
    print(f"d={d:2}: {near[d] / pairs:.0%} near-identical")
