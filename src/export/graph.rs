//! A small builder for ONNX graphs: nodes with unique output names, attributes, and
//! initializers copied from libtorch tensors (float32, row-major, little-endian raw data).
use super::proto::tensor_proto::DataType;
use super::proto::{AttributeProto, NodeProto, TensorProto, attribute_proto::AttributeType};
use anyhow::{Result, ensure};
use std::collections::HashSet;
use tch::{Kind, Tensor};

/// The nodes and initializers of a graph under construction.
#[derive(Debug, Default)]
pub struct Graph {
    /// Nodes in topological order (the order they were added).
    pub nodes: Vec<NodeProto>,
    /// Constant tensors (weights, shapes, scalars).
    pub initializers: Vec<TensorProto>,
    names: HashSet<String>,
}

impl Graph {
    /// `name`, or `name_1`, `name_2`... when taken; the result is reserved.
    pub fn unique(&mut self, name: &str) -> String {
        let mut candidate = name.to_string();
        let mut i = 1;
        while self.names.contains(&candidate) {
            candidate = format!("{name}_{i}");
            i += 1;
        }
        self.names.insert(candidate.clone());
        candidate
    }

    /// Reserves a name the graph's inputs use.
    pub fn reserve(&mut self, name: &str) {
        self.names.insert(name.to_string());
    }

    /// Adds node `op` named after `name` on `inputs`; returns its (single) output's name, which
    /// is the node's name.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> String {
        let out = self.unique(name);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: Some(out.clone()),
            op_type: Some(op.to_string()),
            attribute: attributes,
            ..Default::default()
        });
        out
    }

    /// A float32 initializer holding `t`'s values (any layout, any float kind).
    pub fn tensor(&mut self, name: &str, t: &Tensor) -> Result<String> {
        let t = t
            .to_kind(Kind::Float)
            .to_device(tch::Device::Cpu)
            .contiguous();
        let values = Vec::<f32>::try_from(t.flatten(0, -1))?;
        ensure!(
            values.iter().all(|v| v.is_finite()),
            "{name}: the weights hold NaN or infinite values"
        );
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(self.initializer(name, &t.size(), DataType::Float, raw))
    }

    /// A float32 scalar initializer.
    pub fn scalar(&mut self, name: &str, value: f32) -> String {
        self.initializer(name, &[], DataType::Float, value.to_le_bytes().to_vec())
    }

    /// An int64 vector initializer (shapes, sizes).
    pub fn ints(&mut self, name: &str, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializer(name, &[values.len() as i64], DataType::Int64, raw)
    }

    fn initializer(&mut self, name: &str, dims: &[i64], kind: DataType, raw: Vec<u8>) -> String {
        let name = self.unique(name);
        self.initializers.push(TensorProto {
            dims: dims.to_vec(),
            data_type: Some(kind as i32),
            name: Some(name.clone()),
            raw_data: Some(raw),
            ..Default::default()
        });
        name
    }
}

/// An integer attribute.
pub fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

/// A list-of-integers attribute.
pub fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A string attribute.
pub fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_unique_and_tensors_are_row_major_little_endian() {
        let mut g = Graph::default();
        g.reserve("image");
        assert_eq!(g.node("Relu", "image", &["image"], vec![]), "image_1");
        assert_eq!(g.node("Relu", "image", &["image_1"], vec![]), "image_2");
        // A transposed view must be written in its logical (row-major) order.
        let t = Tensor::from_slice(&[1f32, 2., 3., 4., 5., 6.])
            .view([2, 3])
            .tr();
        let name = g.tensor("w", &t).unwrap();
        let init = g
            .initializers
            .iter()
            .find(|i| i.name.as_deref() == Some(&name));
        let init = init.unwrap();
        assert_eq!(init.dims, [3, 2]);
        let raw = init.raw_data.as_ref().unwrap();
        let values: Vec<f32> = raw
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(values, [1., 4., 2., 5., 3., 6.]);
        let nan = Tensor::from_slice(&[f32::NAN]);
        assert!(g.tensor("bad", &nan).is_err());
    }
}
