//! The crate's architecture, checked: every `crate::` and `super::` path in every source file
//! (not only `use` lines) points to the same or a lower layer (the table below and the Layers
//! table of docs/architecture.md), and no two source files import each other, directly or in a
//! cycle.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules from the bottom up; a module may use only those before it (and itself).
const LAYERS: &[&str] = &[
    "error",
    "cancel",
    "engine",
    "distributed",
    "runtime",
    "fsx",
    "tensor_io",
    "progress",
    "metrics",
    "data",
    "models",
    "weights",
    "run",
    "inference",
    "export",
    "serve",
    "training",
    "reports",
];

/// Source with comments, string and char literals blanked out (lifetimes kept).
fn code_only(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !ident_char(b.get(i.wrapping_sub(1)).copied())
        {
            // Raw string r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}'), or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Sep, // ::
    Open,
    Close,
    Comma,
    Other,
}

fn tokens(code: &str) -> Vec<Tok> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && ident_char(Some(b[i])) {
                i += 1;
            }
            out.push(Tok::Ident(b[start..i].iter().collect()));
            continue;
        }
        match c {
            ':' if b.get(i + 1) == Some(&':') => {
                out.push(Tok::Sep);
                i += 2;
                continue;
            }
            '{' => out.push(Tok::Open),
            '}' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            c if c.is_whitespace() => {}
            _ => out.push(Tok::Other),
        }
        i += 1;
    }
    out
}

/// The paths a use-tree starting at `toks[i]` names (after a leading `crate::`/`super::`),
/// as lists of identifiers; returns them and the index after the tree.
fn use_tree(toks: &[Tok], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        match toks.get(i) {
            Some(Tok::Ident(id)) => {
                prefix.push(id.clone());
                i += 1;
                if toks.get(i) == Some(&Tok::Sep) {
                    i += 1;
                    continue;
                }
                return (vec![prefix], i);
            }
            Some(Tok::Open) => {
                let mut all = Vec::new();
                i += 1;
                loop {
                    match toks.get(i) {
                        Some(Tok::Close) => return (all, i + 1),
                        Some(Tok::Comma) => i += 1,
                        None => return (all, i),
                        _ => {
                            let (paths, j) = use_tree(toks, i);
                            for p in paths {
                                let mut full = prefix.clone();
                                full.extend(p);
                                all.push(full);
                            }
                            // Skip what the tree parser did not consume (`as x`, `*`).
                            i = j;
                            while !matches!(toks.get(i), Some(Tok::Comma | Tok::Close) | None) {
                                i += 1;
                            }
                        }
                    }
                }
            }
            _ => return (vec![prefix], i),
        }
    }
}

/// Every module path a file refers to through `crate::`, `super::`, `self::` or the name of a
/// child module it declares (`mod net;` then `net::Block`), resolved to absolute paths from the
/// crate root. `module` is the file's own module path.
fn references(src: &str, module: &[String]) -> Vec<Vec<String>> {
    let toks = tokens(&code_only(src));
    let mut out = Vec::new();
    // Child modules declared in this file (`mod x;`, `pub mod x;`).
    let children: BTreeSet<String> = toks
        .windows(3)
        .filter_map(|w| match w {
            [Tok::Ident(m), Tok::Ident(name), Tok::Other] if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect();
    // Inline modules (`mod tests { ... }`): (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some(Tok::Ident(name)), Some(Tok::Open)) =
                    (toks.get(i + 1), toks.get(i + 2))
                {
                    inline.push((name.clone(), depth));
                }
            }
            Tok::Ident(kw)
                if (kw == "crate"
                    || kw == "super"
                    || kw == "self"
                    || (inline.is_empty() && children.contains(kw)))
                    && toks.get(i + 1) == Some(&Tok::Sep) =>
            {
                let preceded_by_sep = i > 0 && toks[i - 1] == Tok::Sep;
                if !preceded_by_sep {
                    let mut base: Vec<String> = module.to_vec();
                    base.extend(inline.iter().map(|(n, _)| n.clone()));
                    let mut j = i;
                    if kw == "crate" {
                        base.clear();
                        j += 2;
                    } else if kw == "self" {
                        j += 2;
                    } else if kw != "super" {
                        // A child module's name: the path starts at it.
                    } else {
                        while toks.get(j) == Some(&Tok::Ident("super".into()))
                            && toks.get(j + 1) == Some(&Tok::Sep)
                        {
                            base.pop();
                            j += 2;
                        }
                    }
                    let (paths, end) = use_tree(&toks, j);
                    for p in paths {
                        let mut full = base.clone();
                        full.extend(p);
                        out.push(full);
                    }
                    i = end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Library source files with their module paths (the binary's files are above every layer).
fn library_files() -> BTreeMap<Vec<String>, PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            if parts[0] == "main.rs" || parts[0] == "cli" {
                continue;
            }
            let last = parts.pop().unwrap();
            let stem = last.trim_end_matches(".rs");
            if stem != "mod" && stem != "lib" {
                parts.push(stem.to_string());
            }
            out.insert(parts, p);
        }
    }
    out
}

/// The file a module path lives in: its longest prefix that is a file module.
fn owner<'a>(
    path: &[String],
    files: &'a BTreeMap<Vec<String>, PathBuf>,
) -> Option<&'a Vec<String>> {
    (1..=path.len())
        .rev()
        .find_map(|n| files.get_key_value(&path[..n]).map(|(k, _)| k))
}

#[test]
fn no_module_imports_from_a_higher_layer() {
    let files = library_files();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut violations = Vec::new();
    for (module, path) in &files {
        let Some(top) = module.first() else { continue };
        let Some(own) = rank(top) else {
            violations.push(format!(
                "src/{top}: not in the layer table of tests/layers.rs"
            ));
            continue;
        };
        for r in references(&std::fs::read_to_string(path).unwrap(), module) {
            let Some(target) = r.first() else { continue };
            match rank(target) {
                Some(t) if t <= own => {}
                Some(_) => violations.push(format!(
                    "{}: uses crate::{} ({target} is above {top})",
                    path.display(),
                    r.join("::")
                )),
                None => violations.push(format!(
                    "{}: uses crate::{}, not a module of the layer table",
                    path.display(),
                    r.join("::")
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn source_files_import_each_other_in_no_cycle() {
    let files = library_files();
    let mut edges: BTreeMap<&Vec<String>, BTreeSet<&Vec<String>>> = BTreeMap::new();
    for (module, path) in &files {
        for r in references(&std::fs::read_to_string(path).unwrap(), module) {
            if let Some(target) = owner(&r, &files)
                && target != module
                && !target.is_empty()
            {
                edges.entry(module).or_default().insert(target);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit<'a>(
        m: &'a Vec<String>,
        edges: &BTreeMap<&'a Vec<String>, BTreeSet<&'a Vec<String>>>,
        state: &mut BTreeMap<&'a Vec<String>, u8>,
        stack: &mut Vec<&'a Vec<String>>,
    ) -> Option<String> {
        state.insert(m, 1);
        stack.push(m);
        for &n in edges.get(m).into_iter().flatten() {
            match state.get(n) {
                Some(1) => {
                    let from = stack.iter().position(|s| *s == n).unwrap();
                    let cycle: Vec<String> = stack[from..]
                        .iter()
                        .chain([&n])
                        .map(|s| s.join("::"))
                        .collect();
                    return Some(cycle.join(" -> "));
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(n, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in files.keys() {
        if !state.contains_key(m)
            && let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new())
        {
            panic!("import cycle: {cycle}");
        }
    }
}

#[test]
fn the_checker_sees_paths_outside_use_lines_and_inside_groups() {
    let src = r#"
        use crate::{data::images, models::{Arch, layers::Conv}};
        // crate::training in a comment does not count
        fn f() -> String { let s = "crate::reports"; crate::run::load(); s.into() }
        mod tests { use super::*; fn g() { super::helper(); } }
        mod score;
        fn h() { score::evaluate(); self::score::Scorer::new(); other::f(); }
    "#;
    let m = vec!["inference".to_string(), "predict".to_string()];
    let refs: Vec<String> = references(src, &m).iter().map(|r| r.join("::")).collect();
    assert_eq!(
        refs,
        [
            "data::images",
            "models::Arch",
            "models::layers::Conv",
            "run::load",
            "inference::predict",
            "inference::predict::helper",
            "inference::predict::score::evaluate",
            "inference::predict::score::Scorer::new"
        ]
    );
}

#[test]
fn source_files_stay_small() {
    // Files over ~400 lines before their tests hide more than one concern.
    let mut long = Vec::new();
    for path in library_files().values() {
        let text = std::fs::read_to_string(path).unwrap();
        let lines = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .count();
        if lines > 400 {
            long.push(format!("{}: {lines} lines", path.display()));
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
}
