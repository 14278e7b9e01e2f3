//! A trained classifier as an ONNX model, written from graft's own description of the network:
//! the blocks' layer trees (the same trees the forward pass interprets), the backbone's input
//! normalization before them, global average pooling and the dense head after them. Batch norm
//! is folded into the convolutions, as graft's inference runs them; shapes are tracked through
//! the graph, so TF 'same' padding becomes the exact pads graft computes for this input size.
use super::graph::{self, Graph};
use super::metadata::Metadata;
use super::proto::tensor_proto::DataType;
use super::proto::tensor_shape_proto::{Dimension, dimension};
use super::proto::type_proto;
use super::proto::{
    GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use crate::models::Layer;
use crate::models::layers::{Activation, Conv, Padding, Pool, PoolKind};
use crate::run::TrainedModel;
use anyhow::{Context, Result, ensure};

/// Opset of the plain model (Clip with tensor bounds, Resize-free).
const OPSET: i64 = 17;
/// Opset with preprocessing: Resize's `antialias` came in 18.
const OPSET_PREPROCESSING: i64 = 18;
/// IR version 8: what opsets 17 and 18 go with.
const IR_VERSION: i64 = 8;

/// The batch dimension of the exported model's input and outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchDim {
    /// Any number of images per call (the dimension is named `N`).
    Dynamic,
    /// Exactly this many (some runtimes and compilers want fixed shapes).
    Fixed(i64),
}

impl BatchDim {
    fn dim(self) -> dimension::Value {
        match self {
            BatchDim::Dynamic => param("N"),
            BatchDim::Fixed(n) => fixed(n),
        }
    }
}

impl std::str::FromStr for BatchDim {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<BatchDim, String> {
        match s {
            "dynamic" => Ok(BatchDim::Dynamic),
            n => match n.parse::<i64>() {
                Ok(n) if n > 0 => Ok(BatchDim::Fixed(n)),
                _ => Err(format!("'{s}' is not 'dynamic' or a positive number")),
            },
        }
    }
}

/// A value of the graph and its shape after the batch: (channels, height, width).
#[derive(Debug, Clone)]
struct Value {
    name: String,
    shape: [i64; 3],
}

/// The ONNX model of `trained`: input `image`, outputs `probabilities` and `logits`.
pub fn model(trained: &TrainedModel, batch: BatchDim, preprocessing: bool) -> Result<ModelProto> {
    let (size, arch) = (trained.config.size, trained.config.backbone);
    let mut g = Graph::default();
    g.reserve("image");
    let pixels = if preprocessing {
        resize_inside(&mut g, size)
    } else {
        "image".to_string()
    };
    let n = arch.normalization;
    let mean = g.scalar("normalization.mean", n.mean as f32);
    let scale = g.scalar("normalization.scale", n.scale as f32);
    let centred = g.node("Sub", "normalization.sub", &[&pixels, &mean], vec![]);
    let normalized = g.node("Div", "normalization.div", &[&centred, &scale], vec![]);
    let mut x = Value {
        name: normalized,
        shape: [3, size, size],
    };
    for block in &trained.model.backbone.blocks {
        x = layer(&mut g, &block.layer, x, &block.name)
            .with_context(|| format!("exporting block {}", block.name))?;
    }
    head(&mut g, trained, &x)?;
    let classes = trained.classes.len() as i64;
    let (input, opset) = if preprocessing {
        let dims = [batch.dim(), param("height"), param("width"), fixed(3)];
        (info("image", DataType::Uint8, dims), OPSET_PREPROCESSING)
    } else {
        let dims = [batch.dim(), fixed(3), fixed(size), fixed(size)];
        (info("image", DataType::Float, dims), OPSET)
    };
    let output = |name| info(name, DataType::Float, [batch.dim(), fixed(classes)]);
    let meta = Metadata::new(&trained.classes, size, arch.name(), preprocessing, true);
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(opset),
        }],
        producer_name: Some("graft".into()),
        producer_version: Some(meta.graft_version.clone()),
        doc_string: Some(format!(
            "{} classifier over {classes} classes, trained by graft; {}",
            arch.name(),
            meta.input
        )),
        graph: Some(GraphProto {
            node: std::mem::take(&mut g.nodes),
            name: Some(format!("graft-{}", arch.name())),
            initializer: std::mem::take(&mut g.initializers),
            input: vec![input],
            output: vec![output("probabilities"), output("logits")],
            ..Default::default()
        }),
        metadata_props: meta
            .pairs()
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: Some(key),
                value: Some(value),
            })
            .collect(),
        ..Default::default()
    })
}

/// uint8 NHWC `image` of any size -> float NCHW at `size` x `size`: graft's resize rule
/// (bilinear with pixel centres, antialiased when shrinking, window weights renormalized at the
/// borders: Pillow's BILINEAR, which graft's resize follows), on the uint8 pixels as graft does.
/// The sizes are the full [N, 3, S, S]: onnxruntime 1.32 mis-sizes a Resize with `axes` after a
/// Transpose.
fn resize_inside(g: &mut Graph, size: i64) -> String {
    let nchw = g.node(
        "Transpose",
        "preprocess.nchw",
        &["image"],
        vec![graph::ints("perm", &[0, 3, 1, 2])],
    );
    let range = vec![graph::int("start", 0), graph::int("end", 1)];
    let batch = g.node("Shape", "preprocess.batch", &["image"], range);
    let chw = g.ints("preprocess.chw", &[3, size, size]);
    let axis = vec![graph::int("axis", 0)];
    let sizes = g.node("Concat", "preprocess.sizes", &[&batch, &chw], axis);
    let resized = g.node(
        "Resize",
        "preprocess.resize",
        &[&nchw, "", "", &sizes],
        vec![
            graph::string("mode", "linear"),
            graph::int("antialias", 1),
            graph::int("exclude_outside", 1),
            graph::string("coordinate_transformation_mode", "half_pixel"),
        ],
    );
    let to = graph::int("to", DataType::Float as i64);
    g.node("Cast", "preprocess.float", &[&resized], vec![to])
}

/// Adds `l` applied to `x`; `scope` (the block's name) names the nodes that have no name of
/// their own (concatenations, residual additions).
fn layer(g: &mut Graph, l: &Layer, x: Value, scope: &str) -> Result<Value> {
    match l {
        Layer::Conv(c) => conv(g, c, &x),
        Layer::Pool(p) => pool(g, p, &x),
        Layer::Seq(layers) => layers.iter().try_fold(x, |x, l| layer(g, l, x, scope)),
        Layer::Concat(_) => {
            let parts = parts(g, l, x, scope)?;
            let [_, h, w] = parts[0].shape;
            ensure!(
                parts.iter().all(|p| p.shape[1..] == [h, w]),
                "{scope}: concatenated branches differ in size"
            );
            let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
            let axis = graph::int("axis", 1);
            let name = g.node("Concat", &format!("{scope}.concat"), &names, vec![axis]);
            let channels = parts.iter().map(|p| p.shape[0]).sum();
            Ok(Value {
                name,
                shape: [channels, h, w],
            })
        }
        Layer::Residual(body) => {
            let y = layer(g, body, x.clone(), scope)?;
            ensure!(
                y.shape == x.shape,
                "{scope}: residual body changes the shape"
            );
            let name = g.node("Add", &format!("{scope}.add"), &[&y.name, &x.name], vec![]);
            Ok(Value { name, ..x })
        }
    }
}

/// The outputs a concatenation takes from `l`, as `Layer::parts` computes them: nested
/// concatenations give their branches, so one Concat node joins them all.
fn parts(g: &mut Graph, l: &Layer, x: Value, scope: &str) -> Result<Vec<Value>> {
    match l {
        Layer::Concat(branches) => {
            let mut out = Vec::new();
            for b in branches {
                out.extend(parts(g, b, x.clone(), scope)?);
            }
            Ok(out)
        }
        Layer::Seq(layers) => match layers.split_last() {
            Some((last, init)) => {
                let x = init.iter().try_fold(x, |x, l| layer(g, l, x, scope))?;
                parts(g, last, x, scope)
            }
            None => Ok(vec![x]),
        },
        other => Ok(vec![layer(g, other, x, scope)?]),
    }
}

/// TF 'same' along one axis of `extent`: (pad before, pad after, output extent); the odd pixel
/// goes after, as `models::layers::tf_same_pad` does.
fn tf_same(extent: i64, kernel: i64, stride: i64) -> (i64, i64, i64) {
    let out = (extent + stride - 1) / stride;
    let pad = ((out - 1) * stride + kernel - extent).max(0);
    (pad / 2, pad - pad / 2, out)
}

/// A convolution with its batch norm folded in, then its activation.
fn conv(g: &mut Graph, c: &Conv, x: &Value) -> Result<Value> {
    let [cin, h, w] = x.shape;
    ensure!(
        cin == c.in_channels(),
        "{}: expects {} channels, gets {cin}",
        c.name(),
        c.in_channels()
    );
    let ([kh, kw], s) = (c.kernel(), c.stride());
    let (pads, out) = match c.padding() {
        Padding::Fixed([ph, pw]) => (
            [ph, pw, ph, pw],
            [(h + 2 * ph - kh) / s + 1, (w + 2 * pw - kw) / s + 1],
        ),
        Padding::TfSame => {
            let ((top, bottom, oh), (left, right, ow)) = (tf_same(h, kh, s), tf_same(w, kw, s));
            ([top, left, bottom, right], [oh, ow])
        }
    };
    ensure!(out[0] > 0 && out[1] > 0, "{}: input too small", c.name());
    let (weight, bias) = c.folded();
    let weight = g.tensor(&format!("{}.weight", c.name()), &weight)?;
    let bias = g.tensor(&format!("{}.bias", c.name()), &bias)?;
    let mut attributes = vec![
        graph::ints("kernel_shape", &[kh, kw]),
        graph::ints("strides", &[s, s]),
        graph::ints("pads", &pads),
    ];
    if c.groups() != 1 {
        attributes.push(graph::int("group", c.groups()));
    }
    let y = g.node("Conv", c.name(), &[&x.name, &weight, &bias], attributes);
    let name = match c.activation() {
        Activation::None => y,
        Activation::Relu => g.node("Relu", &format!("{}.relu", c.name()), &[&y], vec![]),
        Activation::Relu6 => {
            let (lo, hi) = relu6_bounds(g);
            g.node(
                "Clip",
                &format!("{}.relu6", c.name()),
                &[&y, &lo, &hi],
                vec![],
            )
        }
    };
    Ok(Value {
        name,
        shape: [c.out_channels(), out[0], out[1]],
    })
}

/// The scalar bounds of ReLU6's Clip, shared by every Clip of the graph.
fn relu6_bounds(g: &mut Graph) -> (String, String) {
    let (lo, hi) = ("relu6.min", "relu6.max");
    if !g.initializers.iter().any(|i| i.name.as_deref() == Some(lo)) {
        g.scalar(lo, 0.0);
        g.scalar(hi, 6.0);
    }
    (lo.to_string(), hi.to_string())
}

/// Max or average pooling (the average over the window's real pixels only).
fn pool(g: &mut Graph, p: &Pool, x: &Value) -> Result<Value> {
    let [c, h, w] = x.shape;
    let (k, s, pad) = (p.kernel, p.stride, p.padding);
    let out = |extent: i64| (extent + 2 * pad - k) / s + 1;
    ensure!(out(h) > 0 && out(w) > 0, "{}: input too small", p.name);
    let mut attributes = vec![
        graph::ints("kernel_shape", &[k, k]),
        graph::ints("strides", &[s, s]),
        graph::ints("pads", &[pad; 4]),
    ];
    let op = match p.kind {
        PoolKind::Max => "MaxPool",
        PoolKind::Avg => {
            attributes.push(graph::int("count_include_pad", 0));
            "AveragePool"
        }
    };
    Ok(Value {
        name: g.node(op, &p.name, &[&x.name], attributes),
        shape: [c, out(h), out(w)],
    })
}

/// Global average pool, the dense layers (ReLU after hidden ones), then softmax: adds the
/// graph's outputs `logits` and `probabilities`.
fn head(g: &mut Graph, trained: &TrainedModel, x: &Value) -> Result<()> {
    let pooled = g.node("GlobalAveragePool", "pool", &[&x.name], vec![]);
    let mut h = g.node(
        "Flatten",
        "features",
        &[&pooled],
        vec![graph::int("axis", 1)],
    );
    let vars = trained.vs.variables();
    for d in trained.model.head_layers() {
        let tensor = |part: &str| {
            let name = format!("{}.{part}", d.name);
            vars.get(&name)
                .map(|t| (name.clone(), t))
                .with_context(|| format!("the model has no tensor {name}"))
        };
        let (w, b) = (tensor("weight")?, tensor("bias")?);
        let (w, b) = (g.tensor(&w.0, w.1)?, g.tensor(&b.0, b.1)?);
        let name = if d.relu { d.name.as_str() } else { "logits" };
        h = g.node("Gemm", name, &[&h, &w, &b], vec![graph::int("transB", 1)]);
        if d.relu {
            h = g.node("Relu", &format!("{}.relu", d.name), &[&h], vec![]);
        }
    }
    ensure!(h == "logits", "the head does not end in the logits layer");
    let axis = graph::int("axis", 1);
    let probabilities = g.node("Softmax", "probabilities", &[&h], vec![axis]);
    ensure!(
        probabilities == "probabilities",
        "a layer is named probabilities"
    );
    Ok(())
}

fn fixed(n: i64) -> dimension::Value {
    dimension::Value::DimValue(n)
}

/// A named dimension whose size the caller chooses.
fn param(name: &str) -> dimension::Value {
    dimension::Value::DimParam(name.into())
}

/// A graph input or output: a tensor of `kind` with `dims`.
fn info<const N: usize>(name: &str, kind: DataType, dims: [dimension::Value; N]) -> ValueInfoProto {
    let shape = TensorShapeProto {
        dim: dims
            .into_iter()
            .map(|value| Dimension {
                value: Some(value),
                ..Default::default()
            })
            .collect(),
    };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(kind as i32),
                shape: Some(shape),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stride-2 TF 'same' puts the odd pixel after, and nothing when the kernel fits.
    #[test]
    fn tf_same_pads_as_graft_does() {
        assert_eq!(tf_same(224, 3, 2), (0, 1, 112));
        assert_eq!(tf_same(225, 3, 2), (1, 1, 113));
        assert_eq!(tf_same(14, 5, 1), (2, 2, 14));
        assert_eq!(tf_same(7, 1, 1), (0, 0, 7));
    }
}
