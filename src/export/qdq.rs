//! `graft export --int8`: the float ONNX model of a run made int8 as onnxruntime runs it, in QDQ
//! form: each activation that graft's int8 network quantizes (the input, every convolution's
//! output after its activation, every concatenation and residual sum, and what the pools pass
//! on) goes through QuantizeLinear + DequantizeLinear with the run's calibrated scale and zero
//! point, and each convolution's kernel is stored as int8 per output channel (the same rounding
//! as `csrc/int8.cpp`) with its bias as int32, each behind a DequantizeLinear. onnxruntime fuses
//! these into its int8 kernels; the head stays float.
use super::proto::tensor_proto::DataType;
use super::proto::{ModelProto, NodeProto, TensorProto};
use crate::models::int8::{Range, activation_params, ops::QParams};
use anyhow::{Context, Result, ensure};
use std::collections::HashMap;

/// Rewrites the float `model` (as `onnx::model` writes it) with the activations' `ranges`.
pub fn quantize(model: &mut ModelProto, ranges: &[Range]) -> Result<()> {
    let graph = model.graph.as_mut().context("the model has no graph")?;
    let params = activation_params(ranges);
    let by_name: HashMap<String, usize> = graph
        .node
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name().to_string(), i))
        .collect();
    // The output each calibrated activation is, and its scale and zero point.
    let mut quantized: HashMap<String, QParams> = HashMap::new();
    for (r, q) in ranges.iter().zip(&params) {
        let node = match r.at.as_str() {
            "input" => "normalization.div".to_string(),
            at => match at.strip_suffix(".sum") {
                Some(block) => format!("{block}.add"),
                None => [".relu", ".relu6", ""]
                    .iter()
                    .map(|s| format!("{at}{s}"))
                    .find(|n| by_name.contains_key(n))
                    .unwrap_or_default(),
            },
        };
        let i = *by_name
            .get(&node)
            .with_context(|| format!("no node for the calibrated activation {}", r.at))?;
        quantized.insert(graph.node[i].output[0].clone(), *q);
    }
    let mut initializers: HashMap<String, TensorProto> = graph
        .initializer
        .drain(..)
        .map(|t| (t.name().to_string(), t))
        .collect();
    let mut nodes = Vec::with_capacity(graph.node.len() * 2);
    // What each quantized value is now called (its DequantizeLinear's output), and the
    // parameters of each such output.
    let mut renamed: HashMap<String, String> = HashMap::new();
    let mut dequantized: HashMap<String, QParams> = HashMap::new();
    for mut node in graph.node.drain(..) {
        for input in node.input.iter_mut() {
            if let Some(name) = renamed.get(input) {
                *input = name.clone();
            }
        }
        let x = dequantized.get(&node.input[0]).copied();
        if node.op_type() == "Conv" {
            let x = x.with_context(|| format!("{}: its input is not quantized", node.name()))?;
            kernel(&mut node, x, &mut initializers, &mut nodes)?;
        }
        let out = node.output[0].clone();
        let q = match quantized.get(&out) {
            Some(q) => Some(*q),
            // A pool passes its input's parameters on, as graft's int8 pools do.
            None if matches!(node.op_type(), "MaxPool" | "AveragePool") => x,
            None => None,
        };
        nodes.push(node);
        if let Some(q) = q {
            let dq = qdq(&out, q, &mut initializers, &mut nodes);
            dequantized.insert(dq.clone(), q);
            renamed.insert(out, dq);
        }
    }
    graph.node = nodes;
    graph.initializer = initializers.into_values().collect();
    graph.initializer.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(())
}

/// QuantizeLinear then DequantizeLinear of `x` with `q`; returns the dequantized value's name.
fn qdq(
    x: &str,
    q: QParams,
    inits: &mut HashMap<String, TensorProto>,
    nodes: &mut Vec<NodeProto>,
) -> String {
    let scale = format!("{x}.scale");
    let zero = format!("{x}.zero_point");
    inits.insert(
        scale.clone(),
        tensor(
            &scale,
            &[],
            DataType::Float,
            (q.scale as f32).to_le_bytes().to_vec(),
        ),
    );
    inits.insert(
        zero.clone(),
        tensor(&zero, &[], DataType::Uint8, vec![q.zero_point as u8]),
    );
    let (quantized, back) = (format!("{x}.quantized"), format!("{x}.dequantized"));
    nodes.push(op("QuantizeLinear", &[x, &scale, &zero], &quantized, None));
    nodes.push(op(
        "DequantizeLinear",
        &[&quantized, &scale, &zero],
        &back,
        None,
    ));
    back
}

/// The Conv `node`'s float kernel and bias replaced by int8 and int32 ones behind
/// DequantizeLinear (per output channel), its input quantized by `x`.
fn kernel(
    node: &mut NodeProto,
    x: QParams,
    inits: &mut HashMap<String, TensorProto>,
    nodes: &mut Vec<NodeProto>,
) -> Result<()> {
    let (w_name, b_name) = (node.input[1].clone(), node.input[2].clone());
    let w = inits
        .remove(&w_name)
        .with_context(|| format!("{w_name}: no such weight"))?;
    let b = inits
        .remove(&b_name)
        .with_context(|| format!("{b_name}: no such bias"))?;
    let (w_values, b_values) = (floats(&w)?, floats(&b)?);
    let channels = w.dims[0] as usize;
    ensure!(
        b_values.len() == channels && w_values.len() % channels == 0,
        "{w_name}: odd shape"
    );
    let per = w_values.len() / channels;
    let mut scales = Vec::with_capacity(channels);
    let mut q = Vec::with_capacity(w_values.len());
    for c in 0..channels {
        let row = &w_values[c * per..(c + 1) * per];
        let amax = row
            .iter()
            .fold(0f64, |m, v| m.max(v.abs() as f64))
            .max(1e-12);
        let s = amax / 127.0;
        scales.push(s);
        q.extend(
            row.iter()
                .map(|v| ((*v as f64 / s).round_ties_even().clamp(-128.0, 127.0) as i8) as u8),
        );
    }
    let bias: Vec<u8> = b_values
        .iter()
        .zip(&scales)
        .flat_map(|(v, s)| ((*v as f64 / (x.scale * s)).round_ties_even() as i32).to_le_bytes())
        .collect();
    let n = [channels as i64];
    let f32s = |v: &[f64]| {
        v.iter()
            .flat_map(|s| (*s as f32).to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let b_scales: Vec<f64> = scales.iter().map(|s| s * x.scale).collect();
    let names = |base: &str| {
        (
            format!("{base}.int"),
            format!("{base}.scale"),
            format!("{base}.zero_point"),
            format!("{base}.float"),
        )
    };
    let (wi, ws, wz, wf) = names(&w_name);
    let (bi, bs, bz, bf) = names(&b_name);
    inits.insert(wi.clone(), tensor(&wi, &w.dims, DataType::Int8, q));
    inits.insert(ws.clone(), tensor(&ws, &n, DataType::Float, f32s(&scales)));
    inits.insert(
        wz.clone(),
        tensor(&wz, &n, DataType::Int8, vec![0; channels]),
    );
    inits.insert(bi.clone(), tensor(&bi, &n, DataType::Int32, bias));
    inits.insert(
        bs.clone(),
        tensor(&bs, &n, DataType::Float, f32s(&b_scales)),
    );
    inits.insert(
        bz.clone(),
        tensor(&bz, &n, DataType::Int32, vec![0; 4 * channels]),
    );
    nodes.push(op("DequantizeLinear", &[&wi, &ws, &wz], &wf, Some(0)));
    nodes.push(op("DequantizeLinear", &[&bi, &bs, &bz], &bf, Some(0)));
    node.input[1] = wf;
    node.input[2] = bf;
    Ok(())
}

fn floats(t: &TensorProto) -> Result<Vec<f32>> {
    ensure!(
        t.data_type == Some(DataType::Float as i32),
        "{}: not float32",
        t.name()
    );
    let raw = t
        .raw_data
        .as_deref()
        .with_context(|| format!("{}: no raw data", t.name()))?;
    Ok(raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn tensor(name: &str, dims: &[i64], kind: DataType, raw: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: Some(kind as i32),
        name: Some(name.to_string()),
        raw_data: Some(raw),
        ..Default::default()
    }
}

fn op(kind: &str, inputs: &[&str], out: &str, axis: Option<i64>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![out.to_string()],
        name: Some(out.to_string()),
        op_type: Some(kind.to_string()),
        attribute: axis
            .map(|a| super::graph::int("axis", a))
            .into_iter()
            .collect(),
        ..Default::default()
    }
}
