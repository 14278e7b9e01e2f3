"""End to end as a user of onnxruntime would run graft's export over a folder: Pillow decodes
each photo in one Python thread and squashes it to the model's size (bilinear), onnxruntime
(CPU, THREADS intra-op threads) runs batches of BATCH. Prints images/s over the whole folder,
loading the model included (as it is in graft predict's time).
Usage: ort_folder.py MODEL.onnx SIZE LIST THREADS BATCH"""
import sys
import time

import numpy as np
import onnxruntime
from PIL import Image


def main():
    model, size, listing, threads, batch = sys.argv[1:6]
    size, threads, batch = int(size), int(threads), int(batch)
    paths = open(listing).read().splitlines()
    start = time.perf_counter()  # loading the model counts, as graft predict's does
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    for i in range(0, len(paths), batch):
        pixels = [
            np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR), dtype=np.float32)
            for p in paths[i : i + batch]
        ]
        x = np.ascontiguousarray(np.stack(pixels).transpose(0, 3, 1, 2))
        session.run(["logits"], {"image": x})
    print(f"{len(paths) / (time.perf_counter() - start):.2f}")


if __name__ == "__main__":
    main()
