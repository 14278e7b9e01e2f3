//! Reading and writing named tensors as safetensors, with string metadata (tch's own writer
//! has no metadata, which graft uses to record what a file holds).
use anyhow::{Context, Result, anyhow, bail};
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};

struct Bytes {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Bytes {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn dtype_of(kind: Kind) -> Result<Dtype> {
    Ok(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        k => bail!("cannot store tensors of kind {k:?}"),
    })
}

fn kind_of(dtype: Dtype) -> Result<Kind> {
    Ok(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        d => bail!("unsupported safetensors dtype {d:?}"),
    })
}

/// Writes tensors (moved to CPU, made contiguous) with metadata, atomically: a reader never sees
/// a half-written file, which matters for caches and checkpoints.
pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let mut stored = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.to_device(tch::Device::Cpu).contiguous();
        let mut data = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut data, t.numel())?;
        let shape = t.size().iter().map(|&d| d as usize).collect();
        stored.push((
            name.clone(),
            Bytes {
                dtype: dtype_of(t.kind())?,
                shape,
                data,
            },
        ));
    }
    crate::fsx::write_atomic(path, |tmp| {
        let views = stored.iter().map(|(n, b)| (n.as_str(), b));
        Ok(safetensors::tensor::serialize_to_file(
            views,
            Some(metadata),
            tmp,
        )?)
    })
}

/// Named tensors of a safetensors file (sorted by name) and its metadata.
pub struct Loaded {
    /// The tensors, sorted by name.
    pub tensors: Vec<(String, Tensor)>,
    /// The file's string metadata (empty when it has none).
    pub metadata: HashMap<String, String>,
}

/// Reads a safetensors file; a file that is not one (truncated, say) is an error naming it.
pub fn load(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a valid safetensors file ({e:?})", path.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a valid safetensors file ({e:?})", path.display()))?;
    let mut tensors = Vec::new();
    for (name, view) in file.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        tensors.push((
            name,
            Tensor::f_from_data_size(view.data(), &shape, kind_of(view.dtype())?)?,
        ));
    }
    // The safetensors crate lists tensors in hash order: sort, so readers see a stable order.
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Loaded {
        tensors,
        metadata: meta.metadata().clone().unwrap_or_default(),
    })
}

/// A float tensor's values as a Vec (any shape, flattened).
pub fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).map_err(|e| anyhow!("{e}"))
}
