//! Copying weights into a model only when they fit it exactly: every tensor matched by name
//! and shape, all checked before anything is copied.
use crate::error::bad_weights;
use crate::models::Arch;
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{Tensor, nn};

/// Reads the weight file at `path` and copies it into the backbone variables of `vs` (see
/// [`apply`]): pretrained weights enter a model only this way.
pub fn apply_file(vs: &nn::VarStore, arch: Arch, path: &Path, with_top: bool) -> Result<()> {
    let tensors = super::read::read_file(path, arch)?;
    apply(vs, arch, &tensors, path, with_top)
}

/// Copies a weight file's `tensors` (graft-named, read from `source`) into the backbone
/// variables of `vs` (everything but a classifier head). The ImageNet top is used when
/// `with_top`, ignored otherwise; PyTorch's batch-norm step counters are ignored.
pub fn apply(
    vs: &nn::VarStore,
    arch: Arch,
    tensors: &[(String, Tensor)],
    source: &Path,
    with_top: bool,
) -> Result<()> {
    let head = crate::models::classifier::HEAD_PREFIX;
    let vars = vs
        .variables()
        .into_iter()
        .filter(|(n, _)| !n.starts_with(head))
        .collect();
    let ignorable =
        |n: &str| n.ends_with("num_batches_tracked") || (!with_top && n.starts_with("top."));
    copy_checked(vars, tensors, source, arch.name, ignorable)
}

/// Copies `tensors` into `vars`, matched one to one by name and shape, after checking all of
/// them: a file with a tensor too many, too few or of another shape is refused, naming it, and
/// nothing is copied. `skip` names tensors a file may carry that the model does not use.
/// Serves pretrained weights and graft's own model files and checkpoints alike.
pub fn copy_checked(
    vars: BTreeMap<String, Tensor>,
    tensors: &[(String, Tensor)],
    source: &Path,
    model: &str,
    skip: impl Fn(&str) -> bool,
) -> Result<()> {
    let src = source.display();
    let mut seen = HashMap::new();
    let mut unexpected = Vec::new();
    for (name, t) in tensors {
        if skip(name) {
            continue;
        }
        match vars.get(name) {
            None => unexpected.push(name.as_str()),
            Some(v) if v.size() != t.size() => {
                return Err(bad_weights(format!(
                    "{src}: tensor '{name}' has shape {:?}, {model} needs {:?}",
                    t.size(),
                    v.size()
                )));
            }
            Some(_) => {
                if seen.insert(name.as_str(), t).is_some() {
                    return Err(bad_weights(format!("{src}: tensor '{name}' appears twice")));
                }
            }
        }
    }
    let missing: Vec<&str> = vars
        .keys()
        .map(String::as_str)
        .filter(|n| !seen.contains_key(n))
        .collect();
    if unexpected.len() + missing.len() > vars.len() / 2 {
        return Err(bad_weights(format!(
            "{src}: not weights for {model} ({} of its {} tensors are unknown to it, e.g. '{}'; {} of {} needed are missing)",
            unexpected.len(),
            tensors.len(),
            unexpected.first().or(missing.first()).unwrap_or(&"?"),
            missing.len(),
            vars.len()
        )));
    }
    if let Some(name) = unexpected.first() {
        return Err(bad_weights(format!(
            "{src}: unexpected tensor '{name}' (not part of {model}){}",
            more(unexpected.len())
        )));
    }
    if let Some(name) = missing.first() {
        return Err(bad_weights(format!(
            "{src}: missing tensor '{name}' needed by {model}{}",
            more(missing.len())
        )));
    }
    tch::no_grad(|| {
        for (name, t) in seen {
            let mut v = vars[name].shallow_clone();
            v.copy_(&t.to_kind(v.kind()).to_device(v.device()));
        }
    });
    Ok(())
}

fn more(n: usize) -> String {
    if n > 1 {
        format!(" and {} more", n - 1)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn model() -> (nn::VarStore, BTreeMap<String, Tensor>) {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = vs.root().zeros("a", &[2, 3]);
        let _ = vs.root().zeros_no_train("b", &[4]);
        let vars = vs.variables().into_iter().collect();
        (vs, vars)
    }

    /// Tensor names and shapes of a file.
    type Listing<'a> = &'a [(&'a str, &'a [i64])];

    fn file(names: Listing) -> Vec<(String, Tensor)> {
        names
            .iter()
            .map(|(n, s)| (n.to_string(), Tensor::ones(*s, (Kind::Float, Device::Cpu))))
            .collect()
    }

    fn shallow(vars: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
        vars.iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect()
    }

    fn untouched(vars: &BTreeMap<String, Tensor>) -> bool {
        vars.values()
            .all(|t| t.sum(Kind::Float).double_value(&[]) == 0.0)
    }

    #[test]
    fn copy_checked_copies_all_or_nothing() {
        let path = Path::new("m.safetensors");
        let cases: [(Listing, &str); 4] = [
            (
                &[("a", &[2, 3]), ("b", &[4]), ("c", &[1])],
                "unexpected tensor 'c'",
            ),
            (&[("a", &[2, 3]), ("b", &[5])], "tensor 'b' has shape [5]"),
            (&[("a", &[2, 3])], "missing tensor 'b'"),
            (
                &[("a", &[2, 3]), ("a", &[2, 3]), ("b", &[4])],
                "'a' appears twice",
            ),
        ];
        for (names, expected) in cases {
            let (_vs, vars) = model();
            let err = copy_checked(shallow(&vars), &file(names), path, "the model", |_| false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(expected) && err.contains("m.safetensors"),
                "{err}"
            );
            assert!(untouched(&vars), "nothing copied when refusing: {err}");
        }
        let (_vs, vars) = model();
        let skip_c = |n: &str| n == "c";
        copy_checked(
            shallow(&vars),
            &file(&[("a", &[2, 3]), ("b", &[4]), ("c", &[1])]),
            path,
            "m",
            skip_c,
        )
        .unwrap();
        assert!(vars.values().all(|t| t.min().double_value(&[]) == 1.0));
    }
}
