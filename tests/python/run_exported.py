"""Runs a model written by `graft export` the way its users will, for tests/export.rs.

Usage: run_exported.py onnx|torchscript MODEL IMAGES.npy OUT_DIR [BATCH...]

ONNX: onnx.checker (full check, shape inference included), then onnxruntime on the CPU.
TorchScript: torch.jit.load, with the metadata from the archive's extra file graft.json.
The images (any dtype and layout the model takes, first axis: images) go through in batches of
each BATCH (default 1 and 7); the logits come back as OUT_DIR/logits_<BATCH>.npy, and what the
model says about itself (metadata, input and output names and shapes) as OUT_DIR/model.json.
An ONNX model that resizes inside also gives the resized pixels, OUT_DIR/resized_<BATCH>.npy.
"""
import json
import sys

import numpy as np


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def open_onnx(path):
    import onnx
    import onnxruntime

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    names = ["probabilities", "logits"]
    # The resized pixels of the variant with preprocessing, made an output of a copy.
    resized = "preprocess.float"
    if any(resized in node.output for node in model.graph.node):
        names.append(resized)
        model.graph.output.append(onnx.ValueInfoProto(name=resized))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def run(images):
        outputs = session.run(names, {"image": images})
        # The probabilities output must be the softmax of the logits output.
        assert np.allclose(outputs[0], softmax(outputs[1]), atol=1e-6), "probabilities"
        return outputs[1:]

    described = {
        "metadata": dict(session.get_modelmeta().custom_metadata_map),
        "inputs": [[i.name, i.type, i.shape] for i in session.get_inputs()],
        "outputs": [[o.name, o.type, o.shape] for o in session.get_outputs()],
        "opset": [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")],
    }
    return run, described


def open_torchscript(path):
    import torch

    torch.set_num_threads(2)
    files = {"graft.json": ""}
    module = torch.jit.load(path, map_location="cpu", _extra_files=files)

    def run(images):
        with torch.no_grad():
            return [module(torch.from_numpy(images)).numpy()]

    return run, {"metadata": json.loads(files["graft.json"])}


def main():
    kind, model, images, out = sys.argv[1:5]
    batches = [int(b) for b in sys.argv[5:]] or [1, 7]
    run, described = {"onnx": open_onnx, "torchscript": open_torchscript}[kind](model)
    images = np.load(images)
    for batch in batches:
        assert len(images) % batch == 0, f"{len(images)} images in batches of {batch}"
        outputs = [run(images[i : i + batch]) for i in range(0, len(images), batch)]
        for name, parts in zip(["logits", "resized"], zip(*outputs)):
            np.save(f"{out}/{name}_{batch}.npy", np.concatenate(parts).astype(np.float32))
    with open(f"{out}/model.json", "w") as f:
        json.dump(described, f)


if __name__ == "__main__":
    main()
