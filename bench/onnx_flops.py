"""Multiply-adds per image of an ONNX model's convolutions and matrix products (batch 1), from
onnx's shape inference. Usage: onnx_flops.py MODEL.onnx   Prints GFLOP per image (2 per MAC)."""
import sys

import numpy as np
import onnx
from onnx import numpy_helper, shape_inference


def main():
    model = shape_inference.infer_shapes(onnx.load(sys.argv[1]))
    g = model.graph
    shapes = {}
    for v in list(g.value_info) + list(g.output) + list(g.input):
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in v.type.tensor_type.shape.dim]
        shapes[v.name] = dims
    weights = {t.name: numpy_helper.to_array(t).shape for t in g.initializer}
    macs = 0
    for n in g.node:
        if n.op_type == "Conv":
            w = weights[n.input[1]]  # [O, I/g, kh, kw]
            out = shapes[n.output[0]]  # [1, O, H, W]
            macs += int(np.prod(w)) * out[2] * out[3]
        elif n.op_type in ("Gemm", "MatMul"):
            macs += int(np.prod(weights.get(n.input[1], (0,))))
    print(f"{2 * macs / 1e9:.3f}")


if __name__ == "__main__":
    main()
