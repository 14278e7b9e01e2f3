//! The `graft` binary's malloc: jemalloc, serving libtorch's tensors too and keeping freed pages
//! for the next batch (on glibc, every pass through the network faulted its largest activations
//! in again: 25-30% of a caching or Test pass).
#![cfg(all(target_os = "linux", target_env = "gnu"))]
use std::process::Command;

fn graft_stderr(args: &[&str], env: (&str, &str)) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_graft"))
        .args(args)
        .env(env.0, env.1)
        .output()
        .expect("running graft");
    assert!(out.status.success(), "graft {args:?} failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn libtorch_allocates_through_the_binarys_jemalloc_which_keeps_freed_pages() {
    // The dynamic linker's log: c10's CPU allocator (posix_memalign) resolves to graft's own.
    let summary = ["summary", "--backbone", "inception-v3", "--classes", "3"];
    let log = graft_stderr(&summary, ("LD_DEBUG", "bindings"));
    let bound = log.lines().any(|l| {
        l.contains("libc10.so")
            && l.contains("`posix_memalign'")
            && l.split(" to ")
                .nth(1)
                .is_some_and(|to| to.contains("graft"))
    });
    assert!(
        bound,
        "libc10's posix_memalign is not bound to graft's jemalloc"
    );
    // jemalloc's own report of its settings: freed pages are never handed back.
    let stats = graft_stderr(&["--version"], ("MALLOC_CONF", "stats_print:true"));
    assert!(stats.contains("opt.dirty_decay_ms: -1"), "{stats}");
    assert!(stats.contains("opt.muzzy_decay_ms: -1"), "{stats}");
}
