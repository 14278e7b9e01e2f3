"""The other side of bench/cpu.sh's forward pass: images/s of onnxruntime (CPU) on an exported ONNX model
and of PyTorch on the exported TorchScript module, on the pixels graft timed itself on.
Usage: export_runtimes.py onnx|torchscript|pytorch-best MODEL PIXELS.npy BATCH PASSES THREADS
pytorch-best: the TorchScript module at PyTorch's best CPU settings, the faster of as loaded and
`torch.jit.freeze` + `optimize_for_inference`, on channels-last input.
Prints images/s."""
import sys
import time

import numpy as np


def main():
    kind, model, pixels, batch, passes, threads = sys.argv[1:7]
    batch, passes, threads = int(batch), int(passes), int(threads)
    pixels = np.load(pixels)
    batches = [pixels[i : i + batch] for i in range(0, len(pixels), batch)]
    if kind == "onnx":
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        rate = timed(lambda x: session.run(["logits"], {"image": x}), batches, passes)
    else:
        import torch

        torch.set_num_threads(threads)
        module = torch.jit.load(model).eval()
        if kind == "pytorch-best":
            cl = torch.channels_last
            batches = [torch.from_numpy(b).contiguous(memory_format=cl) for b in batches]
            modules = [module, torch.jit.optimize_for_inference(torch.jit.freeze(module))]
        else:
            batches = [torch.from_numpy(b) for b in batches]
            modules = [module]
        with torch.no_grad():
            rate = max(timed(m, batches, passes) for m in modules)
    print(f"{rate:.2f}")


def timed(run, batches, passes):
    """images/s of `run` over the batches, after one warm-up pass (TorchScript's profiling
    executor optimizes after the first runs)."""
    for b in batches:
        run(b)
    start = time.perf_counter()
    for _ in range(passes):
        for b in batches:
            run(b)
    return sum(len(b) for b in batches) * passes / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
