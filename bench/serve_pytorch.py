"""The service a PyTorch user would write for a graft run: FastAPI + uvicorn (one worker), the
run's InceptionV3 as eager PyTorch modules (bench/train_pytorch.py's blocks, rebuilt from the
pinned TorchScript file) holding the run's own model.safetensors weights, torch with 2 threads
and inference_mode, Pillow decoding and bilinear resize, one image per forward pass. The same
predict API as graft serve: the image as the raw body, {"model", "predictions", "elapsed_ms"}.

Usage: serve_pytorch.py --run RUN --weights default_1.pt [--port 8081] [--threads 2]
       [--endpoint async|def]   (async: forward pass inside the event loop, one at a time;
                                 def: FastAPI runs it in its thread pool, several at once)"""
import argparse, io, json, os, sys, time

import numpy as np
import torch
import torch.nn as nn
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from PIL import Image
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_pytorch import build  # noqa: E402


class Classifier(nn.Module):
    """Backbone blocks -> global average pool -> Dense(hidden) ReLU -> Dense(classes), as graft's."""

    def __init__(self, blocks, head):
        super().__init__()
        self.blocks = nn.Sequential(*[b for _, b in blocks])
        layers = []
        if "dense.weight" in head:
            dense = nn.Linear(*head["dense.weight"].shape[::-1])
            dense.load_state_dict({"weight": head["dense.weight"], "bias": head["dense.bias"]})
            layers += [dense, nn.ReLU()]
        logits = nn.Linear(*head["logits.weight"].shape[::-1])
        logits.load_state_dict({"weight": head["logits.weight"], "bias": head["logits.bias"]})
        self.head = nn.Sequential(*layers, logits)

    def forward(self, pixels):
        x = (pixels.float() - 128.0) / 128.0
        return self.head(self.blocks(x).mean((2, 3)))


def load(run, weights):
    config = json.load(open(os.path.join(run, "config.json")))
    classes = json.load(open(os.path.join(run, "classes.json")))
    tensors = load_file(os.path.join(run, "model.safetensors"))
    head = {k[len("classifier."):]: v for k, v in tensors.items() if k.startswith("classifier.")}
    backbone = {k.removeprefix("stem."): v for k, v in tensors.items() if not k.startswith("classifier.")}
    model = Classifier(build(weights, backbone), head).eval()
    return model, classes, config["size"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--endpoint", choices=["async", "def"], default="async")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, classes, size = load(a.run, a.weights)
    name = os.path.basename(os.path.normpath(a.run))
    app = FastAPI()

    def predict(body, top_k, start):
        try:
            img = Image.open(io.BytesIO(body)).convert("RGB")
        except Exception as e:
            raise HTTPException(400, f"image: cannot decode ({e})")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).unsqueeze(0)
        with torch.inference_mode():
            p = torch.softmax(model(x), 1)[0]
        top = torch.topk(p, min(top_k, len(classes)))
        predictions = [{"class": classes[int(i)], "probability": float(v)} for v, i in zip(top.values, top.indices)]
        return {"model": name, "predictions": predictions, "elapsed_ms": (time.perf_counter() - start) * 1e3}

    # Warm-up through the request path itself: the first input of a new memory layout costs
    # seconds of kernel setup (from_numpy(...).permute gives channels-last strides).
    warm = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (100, 100, 3), dtype=np.uint8)).save(warm, "JPEG")
    for _ in range(2):
        predict(warm.getvalue(), 1, time.perf_counter())

    if a.endpoint == "async":
        @app.post("/v1/models/{model_name}/predict")
        async def predict_async(model_name: str, request: Request, top_k: int = 3):
            start = time.perf_counter()
            return predict(await request.body(), top_k, start)
    else:
        @app.post("/v1/models/{model_name}/predict")
        def predict_def(model_name: str, body: bytes = Depends(raw_body), top_k: int = 3):
            return predict(body, top_k, time.perf_counter())

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=a.port, workers=1, log_level="warning")


async def raw_body(request: Request) -> bytes:
    return await request.body()


if __name__ == "__main__":
    sys.exit(main())
