//! Minimal Python pickle virtual machine (protocols 2-5), just enough for PyTorch files.
//!
//! Values are plain owned trees: memo entries are snapshots taken at BINPUT (Python shares
//! the object; PyTorch's pickles only re-read finished values such as strings, globals,
//! storage ids and tensors, for which both agree). A few torch globals are interpreted
//! during REDUCE (tensor rebuilds, OrderedDict, TorchScript list builders) so that callers
//! see `Value::Tensor` / `Value::Dict` instead of opaque calls. Malformed input is always an
//! `Err`: every read is bounds-checked, nesting depth and memo copying are bounded.

use std::collections::HashMap;
use std::fmt;

/// Deeper nesting than this is rejected (real files nest < 30; keeps recursion safe).
const MAX_DEPTH: u32 = 256;
/// Budget of value nodes copied by memo/DUP operations (guards against "memo bombs").
const MAX_COPIED_NODES: u64 = 1 << 22;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// Integer wider than i64: minimal little-endian two's-complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Insertion-ordered key/value pairs (dict and OrderedDict).
    Dict(Vec<(Value, Value)>),
    /// set / frozenset, in pickle order.
    Set(Vec<Value>),
    Global {
        module: String,
        name: String,
    },
    /// REDUCE / NEWOBJ of a callable we do not interpret.
    Call {
        callable: Box<Value>,
        args: Box<Value>,
    },
    /// A `Call` that received a BUILD: `state` is usually the attribute dict.
    Object {
        class: Box<Value>,
        args: Box<Value>,
        state: Box<Value>,
    },
    PersistentId(Box<Value>),
    /// Result of `torch._utils._rebuild_tensor{,_v2,_v3}`.
    Tensor(Box<TensorRef>),
}

/// A tensor view on a storage; the storage is whatever BINPERSID produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: Box<Value>,
    /// Explicit dtype (a `torch.<dtype>` global), only for `_rebuild_tensor_v3`.
    pub dtype: Option<Box<Value>>,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    /// Items of a list or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PickleError {
    /// The input ended before STOP (or inside an opcode argument).
    Truncated {
        offset: usize,
    },
    UnsupportedOpcode {
        opcode: u8,
        offset: usize,
    },
    Malformed {
        offset: usize,
        msg: String,
    },
}

impl fmt::Display for PickleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PickleError::Truncated { offset } => write!(f, "pickle ends early at offset {offset}"),
            PickleError::UnsupportedOpcode { opcode, offset } => {
                write!(f, "unsupported pickle opcode 0x{opcode:02x}")?;
                if opcode.is_ascii_graphic() {
                    write!(f, " ('{}')", *opcode as char)?;
                }
                write!(f, " at offset {offset}")
            }
            PickleError::Malformed { offset, msg } => {
                write!(f, "malformed pickle at offset {offset}: {msg}")
            }
        }
    }
}

impl std::error::Error for PickleError {}

/// Runs one pickle starting at `start`; returns its value and the offset just after STOP.
pub fn load(data: &[u8], start: usize) -> Result<(Value, usize), PickleError> {
    let mut vm = Vm {
        data,
        pos: start,
        op_pos: start,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copied: 0,
    };
    let v = vm.run()?;
    Ok((v, vm.pos))
}

/// Stack entry: the value plus its nesting depth and approximate node count, tracked
/// incrementally so limits cost nothing extra.
#[derive(Clone)]
struct Item {
    v: Value,
    depth: u32,
    nodes: u64,
}

impl Item {
    fn leaf(v: Value) -> Item {
        let nodes = match &v {
            Value::Str(s) => 1 + s.len() as u64 / 64,
            Value::Bytes(b) | Value::BigInt(b) => 1 + b.len() as u64 / 64,
            _ => 1,
        };
        Item { v, depth: 1, nodes }
    }
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    stack: Vec<Item>,
    /// Stack lengths at each MARK; values below the top mark are out of reach (as in Python).
    marks: Vec<usize>,
    memo: HashMap<u64, Item>,
    copied: u64,
}

impl<'a> Vm<'a> {
    fn err(&self, msg: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.op_pos,
            msg: msg.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or(PickleError::Truncated {
            offset: self.data.len(),
        })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.arr::<1>()?[0])
    }
    fn len_u32(&mut self) -> Result<usize, PickleError> {
        Ok(u32::from_le_bytes(self.arr()?) as usize)
    }
    fn len_i32(&mut self) -> Result<usize, PickleError> {
        let n = i32::from_le_bytes(self.arr()?);
        usize::try_from(n).map_err(|_| self.err(format!("negative length {n}")))
    }
    fn len_u64(&mut self) -> Result<usize, PickleError> {
        // Too large for usize means it cannot fit in the input either.
        usize::try_from(u64::from_le_bytes(self.arr()?)).map_err(|_| PickleError::Truncated {
            offset: self.data.len(),
        })
    }
    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PickleError::Truncated {
                offset: self.data.len(),
            })?;
        let s = std::str::from_utf8(&rest[..n])
            .map_err(|_| self.err("GLOBAL name is not UTF-8"))?
            .to_string();
        self.pos += n + 1;
        Ok(s)
    }
    fn utf8(&self, b: &[u8]) -> Result<Value, PickleError> {
        String::from_utf8(b.to_vec())
            .map(Value::Str)
            .map_err(|_| self.err("string is not valid UTF-8"))
    }

    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }
    fn push(&mut self, it: Item) -> Result<(), PickleError> {
        if it.depth > MAX_DEPTH {
            return Err(self.err(format!("nesting deeper than {MAX_DEPTH}")));
        }
        self.stack.push(it);
        Ok(())
    }
    fn pop(&mut self) -> Result<Item, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.err("stack underflow"));
        }
        Ok(self.stack.pop().expect("length checked above"))
    }
    fn top(&mut self) -> Result<&mut Item, PickleError> {
        if self.stack.len() <= self.floor() {
            return Err(self.err("stack underflow"));
        }
        Ok(self.stack.last_mut().expect("length checked above"))
    }
    fn pop_mark(&mut self) -> Result<Vec<Item>, PickleError> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.err("no MARK on the stack"))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }
    /// Charges the copy budget before a memo/DUP copy of `nodes` nodes.
    fn charge(&mut self, nodes: u64) -> Result<(), PickleError> {
        self.copied += nodes;
        if self.copied > MAX_COPIED_NODES {
            return Err(self.err("memo copies exceed the size budget"));
        }
        Ok(())
    }
    fn top_copy(&mut self) -> Result<Item, PickleError> {
        let nodes = self.top()?.nodes;
        self.charge(nodes)?;
        Ok(self.stack.last().expect("top() checked it").clone())
    }
    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let it = self.top_copy()?;
        self.memo.insert(key, it);
        Ok(())
    }
    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let nodes = self
            .memo
            .get(&key)
            .ok_or_else(|| self.err(format!("memo key {key} not set")))?
            .nodes;
        self.charge(nodes)?;
        let it = self.memo[&key].clone();
        self.push(it)
    }

    /// Appends items to the list/set on top of the stack.
    fn extend_top(&mut self, items: Vec<Item>) -> Result<(), PickleError> {
        let top = self.top()?;
        let (depth, nodes) = meta(&items);
        top.depth = top.depth.max(depth + 1);
        top.nodes += nodes;
        match &mut top.v {
            Value::List(l) | Value::Set(l) => l.extend(items.into_iter().map(|i| i.v)),
            _ => return Err(self.err("APPEND/ADDITEMS target is not a list or set")),
        }
        let d = self.stack.last().map_or(0, |t| t.depth);
        if d > MAX_DEPTH {
            Err(self.err(format!("nesting deeper than {MAX_DEPTH}")))
        } else {
            Ok(())
        }
    }
    fn setitems_top(&mut self, items: Vec<Item>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.err("SETITEMS with an odd number of items"));
        }
        let top = self.top()?;
        let (depth, nodes) = meta(&items);
        top.depth = top.depth.max(depth + 1);
        top.nodes += nodes;
        let Value::Dict(d) = &mut top.v else {
            return Err(self.err("SETITEM target is not a dict"));
        };
        let mut it = items.into_iter().map(|i| i.v);
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        let d = self.stack.last().map_or(0, |t| t.depth);
        if d > MAX_DEPTH {
            Err(self.err(format!("nesting deeper than {MAX_DEPTH}")))
        } else {
            Ok(())
        }
    }
    fn container(
        &mut self,
        items: Vec<Item>,
        make: fn(Vec<Value>) -> Value,
    ) -> Result<(), PickleError> {
        let (depth, nodes) = meta(&items);
        self.push(Item {
            v: make(items.into_iter().map(|i| i.v).collect()),
            depth: depth + 1,
            nodes: nodes + 1,
        })
    }
    fn int_bytes(&mut self, n: usize) -> Result<(), PickleError> {
        let b = self.take(n)?;
        self.push(Item::leaf(decode_long(b)))
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => drop(self.u8()?), // PROTO: every protocol we know reads the same way
                0x95 => drop(self.take(8)?), // FRAME: only a buffering hint
                b'.' => return Ok(self.pop()?.v),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => drop(self.pop()?),
                b'1' => drop(self.pop_mark()?),
                b'2' => {
                    let it = self.top_copy()?;
                    self.push(it)?
                }
                b'}' => self.push(Item::leaf(Value::Dict(Vec::new())))?,
                b']' => self.push(Item::leaf(Value::List(Vec::new())))?,
                b')' => self.push(Item::leaf(Value::Tuple(Vec::new())))?,
                0x8f => self.push(Item::leaf(Value::Set(Vec::new())))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(Item::leaf(Value::Dict(Vec::new())))?;
                    self.setitems_top(items)?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.container(items, Value::List)?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.container(items, Value::Tuple)?
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.container(items, Value::Set)?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.container(items, Value::Tuple)?
                }
                b'a' => {
                    let x = self.pop()?;
                    self.extend_top(vec![x])?
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    self.extend_top(items)?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.setitems_top(vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.setitems_top(items)?
                }
                b'J' => {
                    let i = i32::from_le_bytes(self.arr()?);
                    self.push(Item::leaf(Value::Int(i as i64)))?
                }
                b'K' => {
                    let i = self.u8()?;
                    self.push(Item::leaf(Value::Int(i as i64)))?
                }
                b'M' => {
                    let i = u16::from_le_bytes(self.arr()?);
                    self.push(Item::leaf(Value::Int(i as i64)))?
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    self.int_bytes(n)?
                }
                0x8b => {
                    let n = self.len_i32()?;
                    self.int_bytes(n)?
                }
                b'G' => {
                    let f = f64::from_be_bytes(self.arr()?);
                    self.push(Item::leaf(Value::Float(f)))?
                }
                b'N' => self.push(Item::leaf(Value::None))?,
                0x88 | 0x89 => self.push(Item::leaf(Value::Bool(op == 0x88)))?,
                0x8c | b'X' | 0x8d => {
                    let n = match op {
                        0x8c => self.u8()? as usize,
                        b'X' => self.len_u32()?,
                        _ => self.len_u64()?,
                    };
                    let b = self.take(n)?;
                    let v = self.utf8(b)?;
                    self.push(Item::leaf(v))?
                }
                // Python 2 str: text when it decodes, bytes otherwise.
                b'U' | b'T' => {
                    let n = if op == b'U' {
                        self.u8()? as usize
                    } else {
                        self.len_i32()?
                    };
                    let b = self.take(n)?;
                    let v = self.utf8(b).unwrap_or_else(|_| Value::Bytes(b.to_vec()));
                    self.push(Item::leaf(v))?
                }
                b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => self.u8()? as usize,
                        b'B' => self.len_u32()?,
                        _ => self.len_u64()?,
                    };
                    let b = self.take(n)?;
                    self.push(Item::leaf(Value::Bytes(b.to_vec())))?
                }
                b'q' => {
                    let k = self.u8()? as u64;
                    self.memo_put(k)?
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.arr()?) as u64;
                    self.memo_put(k)?
                }
                0x94 => self.memo_put(self.memo.len() as u64)?,
                b'h' => {
                    let k = self.u8()? as u64;
                    self.memo_get(k)?
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.arr()?) as u64;
                    self.memo_get(k)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Item::leaf(Value::Global { module, name }))?
                }
                0x93 => {
                    let name = self.pop()?.v;
                    let module = self.pop()?.v;
                    let (Value::Str(module), Value::Str(name)) = (module, name) else {
                        return Err(self.err("STACK_GLOBAL needs two strings"));
                    };
                    self.push(Item::leaf(Value::Global { module, name }))?
                }
                b'R' | 0x81 | 0x92 => {
                    if op == 0x92 {
                        drop(self.pop()?); // NEWOBJ_EX kwargs: unused by anything we interpret
                    }
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let (depth, nodes) = (
                        args.depth.max(callable.depth) + 1,
                        args.nodes + callable.nodes + 1,
                    );
                    let v = reduce(callable.v, args.v).map_err(|m| self.err(m))?;
                    self.push(Item { v, depth, nodes })?
                }
                b'b' => {
                    let state = self.pop()?;
                    let top = self.top()?;
                    top.depth = top.depth.max(state.depth + 1);
                    top.nodes += state.nodes;
                    let old = std::mem::replace(&mut top.v, Value::None);
                    top.v = match build(old, state.v) {
                        Ok(v) => v,
                        Err(m) => return Err(self.err(m)),
                    };
                    let d = top.depth;
                    if d > MAX_DEPTH {
                        return Err(self.err(format!("nesting deeper than {MAX_DEPTH}")));
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.push(Item {
                        depth: pid.depth + 1,
                        nodes: pid.nodes + 1,
                        v: Value::PersistentId(Box::new(pid.v)),
                    })?
                }
                _ => {
                    return Err(PickleError::UnsupportedOpcode {
                        opcode: op,
                        offset: self.op_pos,
                    });
                }
            }
        }
    }
}

/// (max depth, total nodes) of a group of items.
fn meta(items: &[Item]) -> (u32, u64) {
    items
        .iter()
        .fold((0, 0), |(d, n), i| (d.max(i.depth), n + i.nodes))
}

/// Decodes a LONG1/LONG4 payload (little-endian two's complement).
fn decode_long(b: &[u8]) -> Value {
    // Drop redundant sign-extension bytes so that small values always become Int.
    let mut n = b.len();
    while n > 1
        && ((b[n - 1] == 0 && b[n - 2] & 0x80 == 0) || (b[n - 1] == 0xff && b[n - 2] & 0x80 != 0))
    {
        n -= 1;
    }
    match n {
        0 => Value::Int(0),
        1..=8 => {
            let mut buf = if b[n - 1] & 0x80 != 0 {
                [0xff; 8]
            } else {
                [0; 8]
            };
            buf[..n].copy_from_slice(&b[..n]);
            Value::Int(i64::from_le_bytes(buf))
        }
        _ => Value::BigInt(b[..n].to_vec()),
    }
}

/// REDUCE/NEWOBJ: interprets the few torch/collections callables PyTorch files rely on.
fn reduce(callable: Value, args: Value) -> Result<Value, String> {
    let key = match &callable {
        Value::Global { module, name } => format!("{module}.{name}"),
        _ => String::new(),
    };
    let a = match &args {
        Value::Tuple(a) => a.as_slice(),
        _ => &[],
    };
    Ok(match key.as_str() {
        "collections.OrderedDict" | "builtins.dict" if a.is_empty() => Value::Dict(Vec::new()),
        // OrderedDict([(k, v), ...])
        "collections.OrderedDict" if a.len() == 1 && a[0].as_seq().is_some() => {
            let mut d = Vec::new();
            for p in a[0].as_seq().unwrap_or_default() {
                match p.as_seq() {
                    Some([k, v]) => d.push((k.clone(), v.clone())),
                    _ => return Err("OrderedDict item is not a pair".into()),
                }
            }
            Value::Dict(d)
        }
        "torch._utils._rebuild_tensor"
        | "torch._utils._rebuild_tensor_v2"
        | "torch._utils._rebuild_tensor_v3" => Value::Tensor(Box::new(tensor_ref(&key, a)?)),
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state"
            if !a.is_empty() =>
        {
            a[0].clone()
        }
        // Tensor subclass: rebuild with the inner function, drop the subclass.
        "torch._tensor._rebuild_from_type_v2" if a.len() == 4 => {
            reduce(a[0].clone(), a[2].clone())?
        }
        // TorchScript wraps typed lists: build_intlist([..]) etc. is just the list.
        k if k.starts_with("torch.jit._pickle.build_") && a.len() == 1 => a[0].clone(),
        "torch.jit._pickle.restore_type_tag" if !a.is_empty() => a[0].clone(),
        _ => Value::Call {
            callable: Box::new(callable),
            args: Box::new(args),
        },
    })
}

/// `_rebuild_tensor(storage, offset, size, stride, ...)`; v3 has the dtype at index 6.
fn tensor_ref(key: &str, a: &[Value]) -> Result<TensorRef, String> {
    let v3 = key.ends_with("_v3");
    if a.len() < if v3 { 7 } else { 4 } {
        return Err(format!("{key} with {} arguments", a.len()));
    }
    let uint = |v: &Value| v.as_int().and_then(|i| usize::try_from(i).ok());
    let dims = |v: &Value, what: &str| -> Result<Vec<usize>, String> {
        let s = v.as_seq().ok_or(format!("tensor {what} is not a tuple"))?;
        s.iter()
            .map(|d| uint(d).ok_or(format!("tensor {what} has a non-integer or negative entry")))
            .collect()
    };
    let offset = uint(&a[1]).ok_or("tensor storage offset is not a non-negative integer")?;
    let (shape, stride) = (dims(&a[2], "size")?, dims(&a[3], "stride")?);
    if shape.len() != stride.len() {
        return Err(format!(
            "tensor size has {} dims but stride has {}",
            shape.len(),
            stride.len()
        ));
    }
    let dtype = if v3 {
        Some(Box::new(a[6].clone()))
    } else {
        None
    };
    Ok(TensorRef {
        storage: Box::new(a[0].clone()),
        dtype,
        offset,
        shape,
        stride,
    })
}

/// BUILD: attach `state` to the object on the stack.
fn build(target: Value, state: Value) -> Result<Value, String> {
    Ok(match target {
        Value::Call { callable, args } => Value::Object {
            class: callable,
            args,
            state: Box::new(state),
        },
        Value::Object {
            class,
            args,
            state: old,
        } => {
            // A second BUILD updates the attribute dict, as __dict__.update would.
            let state = match (*old, state) {
                (Value::Dict(mut a), Value::Dict(b)) => {
                    a.extend(b);
                    Value::Dict(a)
                }
                (_, s) => s,
            };
            Value::Object {
                class,
                args,
                state: Box::new(state),
            }
        }
        // OrderedDict `_metadata`, tensor subclass state, ...: not needed.
        v @ (Value::Dict(_) | Value::Tensor(_) | Value::List(_) | Value::Set(_)) => v,
        other => return Err(format!("BUILD on a {}", kind(&other))),
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::BigInt(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Dict(_) => "dict",
        Value::Set(_) => "set",
        Value::Global { .. } => "global",
        Value::Call { .. } => "call",
        Value::Object { .. } => "object",
        Value::PersistentId(_) => "persistent id",
        Value::Tensor(_) => "tensor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(b: &[u8]) -> Result<Value, PickleError> {
        load(b, 0).map(|(v, _)| v)
    }
    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }
    /// BINUNICODE opcode with its argument.
    fn uni(x: &str) -> Vec<u8> {
        let mut v = vec![b'X'];
        v.extend((x.len() as u32).to_le_bytes());
        v.extend(x.as_bytes());
        v
    }

    #[test]
    fn dict_list_memo() {
        let mut p = b"\x80\x02}q\x00(".to_vec();
        p.extend(uni("a"));
        p.extend(b"K\x07q\x01");
        p.extend(uni("b"));
        p.extend(b"]q\x02(K\x02M\x00\x01J\xff\xff\xff\xffh\x01eu.trailing");
        let (v, end) = load(&p, 0).unwrap();
        assert_eq!(&p[end..], b"trailing");
        let i = Value::Int;
        let list = Value::List(vec![i(2), i(256), i(-1), i(7)]);
        assert_eq!(v, Value::Dict(vec![(s("a"), i(7)), (s("b"), list)]));
    }

    #[test]
    fn scalars_tuples_globals() {
        let mut p = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00(N".to_vec();
        p.extend(b"\x88\x89G\x3f\xf8\x00\x00\x00\x00\x00\x00");
        p.extend(b"\x8c\x03abc\x94C\x02hi");
        p.extend(b"\x8a\x01\xff\x8a\x02\xff\x00\x8a\x00");
        p.extend(b"K\x01\x85K\x01K\x02\x86K\x01K\x02K\x03\x87");
        p.extend(b"\x8c\x05torch\x8c\x0cFloatStorage\x93");
        p.extend(b"h\x00U\x02py");
        p.extend(b"\x8f(K\x01K\x02\x90(K\x03\x91t.");
        let v = run(&p).unwrap();
        let i = Value::Int;
        let expect = Value::Tuple(vec![
            Value::None,
            Value::Bool(true),
            Value::Bool(false),
            Value::Float(1.5),
            s("abc"),
            Value::Bytes(b"hi".to_vec()),
            i(-1),
            i(255),
            i(0),
            Value::Tuple(vec![i(1)]),
            Value::Tuple(vec![i(1), i(2)]),
            Value::Tuple(vec![i(1), i(2), i(3)]),
            Value::Global {
                module: "torch".into(),
                name: "FloatStorage".into(),
            },
            s("abc"),
            s("py"),
            Value::Set(vec![i(1), i(2)]),
            Value::Set(vec![i(3)]),
        ]);
        assert_eq!(v, expect);
    }

    #[test]
    fn torch_magic_is_bigint() {
        let mut p = b"\x80\x02\x8a\x0a".to_vec();
        p.extend(&119547037146038801333356u128.to_le_bytes()[..10]);
        p.push(b'.');
        assert_eq!(
            run(&p).unwrap(),
            Value::BigInt(119547037146038801333356u128.to_le_bytes()[..10].to_vec())
        );
        // i64::MIN and a negative 9-byte value with redundant sign byte.
        assert_eq!(
            run(b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80.").unwrap(),
            Value::Int(i64::MIN)
        );
        assert_eq!(
            run(b"\x8a\x09\xfe\xff\xff\xff\xff\xff\xff\xff\xff.").unwrap(),
            Value::Int(-2)
        );
    }

    #[test]
    fn tensor_and_objects() {
        let mut p = b"\x80\x02c__torch__.m\nNet\n)\x81}(".to_vec();
        p.extend(uni("w"));
        p.extend(b"ctorch._utils\n_rebuild_parameter\n(ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend(b"(");
        p.extend(uni("storage"));
        p.extend(b"ctorch\nHalfStorage\n");
        p.extend(uni("0"));
        p.extend(uni("cpu"));
        p.extend(b"K\x06tQK\x01K\x02K\x02\x86K\x01K\x02\x86\x89ccollections\nOrderedDict\nq\x00)RtR\x88h\x00tR");
        p.extend(uni("dims"));
        p.extend(b"ctorch.jit._pickle\nbuild_intlist\n](K\x03e\x85Rub.");
        let v = run(&p).unwrap();
        let Value::Object { class, state, .. } = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            *class,
            Value::Global {
                module: "__torch__.m".into(),
                name: "Net".into()
            }
        );
        let Value::Dict(d) = *state else { panic!() };
        let Value::Tensor(t) = &d[0].1 else {
            panic!("{:?}", d[0].1)
        };
        assert_eq!(
            (t.offset, &t.shape[..], &t.stride[..]),
            (1, &[2, 2][..], &[1, 2][..])
        );
        let Value::PersistentId(pid) = &*t.storage else {
            panic!()
        };
        assert_eq!(pid.as_seq().unwrap()[2], s("0"));
        assert_eq!(d[1].1, Value::List(vec![Value::Int(3)]));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "ends early"),
            (b"\x80\x02K\x01", "ends early"),
            (b"X\x05\x00\x00\x00ab.", "ends early"),
            (b"\x8d\xff\xff\xff\xff\xff\xff\xff\xff.", "ends early"),
            (b"\x8b\xff\xff\xff\xff.", "negative length"),
            (b"a.", "underflow"),
            (b".", "underflow"),
            (b"K\x01(a.", "underflow"),
            (b"K\x01(0.", "underflow"),
            (b"t.", "no MARK"),
            (b"h\x05.", "memo key 5"),
            (b"K\x01q\x00j\x01\x00\x00\x00.", "memo key 1"),
            (b"K\x01K\x02a.", "not a list"),
            (b"}(K\x01u.", "odd number"),
            (b"K\x01K\x02K\x03b.", "BUILD on a int"),
            (b"K\x01K\x02\x93.", "STACK_GLOBAL"),
            (b"ctorch\nFloat", "ends early"),
            (
                b"ctorch._utils\n_rebuild_tensor_v2\n(K\x01K\x00(K\x02t(ttR.",
                "dims",
            ),
            (
                b"ctorch._utils\n_rebuild_tensor_v2\n(K\x01J\xff\xff\xff\xff))tR.",
                "offset",
            ),
            (b"I1\n.", "0x49 ('I') at offset 0"),
            (b"\x80\x02\x00", "0x00 at offset 2"),
        ];
        for (p, want) in cases {
            let e = run(p).expect_err(&format!("{p:?} should fail")).to_string();
            assert!(e.contains(want), "{p:?}: {e}");
        }
    }

    #[test]
    fn depth_and_copy_limits() {
        let mut deep = vec![b']'; 300];
        deep.extend(vec![b'a'; 299]);
        deep.push(b'.');
        assert!(run(&deep).unwrap_err().to_string().contains("nesting"));
        let mut deep_tuples = vec![b')'];
        deep_tuples.extend(vec![0x85; 300]);
        deep_tuples.push(b'.');
        assert!(
            run(&deep_tuples)
                .unwrap_err()
                .to_string()
                .contains("nesting")
        );
        // Each step doubles the value through the memo: must hit the copy budget, not OOM.
        let mut bomb = b"]q\x00".to_vec();
        for _ in 0..60 {
            bomb.extend(b"h\x00h\x00\x86q\x000");
        }
        bomb.push(b'.');
        assert!(run(&bomb).unwrap_err().to_string().contains("budget"));
    }

    /// Every prefix and many single-byte corruptions of a valid pickle: Ok or Err, never a panic.
    #[test]
    fn corrupted_inputs_do_not_panic() {
        let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(".to_vec();
        p.extend(uni("layer.weight"));
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x02((");
        p.extend(uni("storage"));
        p.extend(b"ctorch\nFloatStorage\n");
        p.extend(uni("0"));
        p.extend(uni("cpu"));
        p.extend(b"K\x04NtQK\x00K\x02K\x02\x86K\x02K\x01\x86\x89h\x00)RtRu}b.");
        assert!(matches!(run(&p), Ok(Value::Dict(_))));
        for n in 0..p.len() {
            assert!(run(&p[..n]).is_err());
        }
        let mut seed = 0x2545f4914f6cdd1du64;
        for _ in 0..20000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut q = p.clone();
            q[(seed as usize >> 8) % p.len()] = seed as u8;
            let _ = run(&q);
        }
    }
}
