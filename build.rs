//! Build steps: the ONNX protobuf types, compiled from the vendored `proto/onnx.proto` by protox
//! (a protobuf compiler in Rust, so no protoc is needed) and prost-build; and for the `graft`
//! binary, an rpath to the libtorch that torch-sys linked against, with libtorch_cuda kept in
//! the link so CUDA is available when present (the default `--as-needed` drops it, as nothing
//! references it by symbol); and the C++ bridge to torch.distributed (`csrc/distributed.cpp`),
//! compiled against the libtorch headers (plus the vendored gloo declarations it includes), with
//! the batch norm that data-parallel training synchronises over the ranks, and the switch for
//! libtorch's bf16 autocast (`csrc/autocast.cpp`), its fused Adam update
//! (`csrc/fused_adam.cpp`), the small-grid convolution (`csrc/small_grid_conv.cpp`) and the
//! convolution with its activation fused (`csrc/fused_conv.cpp`), and the int8 inference
//! operations (`csrc/int8.cpp`).
use std::path::{Path, PathBuf};

fn main() {
    onnx_types();
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    // .cargo/config.toml points it at the wheel that scripts/setup.sh installs.
    let libtorch = std::env::var("LIBTORCH")
        .expect("LIBTORCH is not set: run scripts/setup.sh (it installs the pinned torch wheel)");
    let lib = PathBuf::from(&libtorch).join("lib");
    let lib = lib.canonicalize().unwrap_or(lib);
    distributed_bridge(Path::new(&libtorch));
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}

/// `libgraft_distributed.a`: c10d's TCPStore and ProcessGroupGloo behind a C interface, with
/// the flags torch-sys compiles its own C++ with (C++17, the new libstdc++ ABI of the wheels).
fn distributed_bridge(libtorch: &Path) {
    println!("cargo:rerun-if-changed=csrc");
    let include = libtorch.join("include");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("csrc/distributed.cpp")
        .file("csrc/sync_batch_norm.cpp")
        .file("csrc/autocast.cpp")
        .file("csrc/fused_adam.cpp")
        .file("csrc/small_grid_conv.cpp")
        .file("csrc/fused_conv.cpp")
        .file("csrc/int8.cpp")
        .file("csrc/guarded.cpp");
    // libtorch's and gloo's headers as system headers: theirs warn under -Wextra (unused
    // parameters by the hundred), graft's own csrc keeps every warning.
    for dir in [
        include.clone(),
        include.join("torch/csrc/api/include"),
        PathBuf::from("third_party/gloo/include"),
    ] {
        build.flag("-isystem").flag(dir);
    }
    build
        .flag("-Wall")
        .flag("-Wextra")
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        // The wheel's c10d headers declare Gloo only under this define (the wheel's own build
        // sets it).
        .flag("-DUSE_C10D_GLOO")
        .compile("graft_distributed");
    println!(
        "cargo:rustc-link-search=native={}",
        libtorch.join("lib").display()
    );
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

/// `$OUT_DIR/onnx.rs`: prost structs for onnx.proto's messages.
fn onnx_types() {
    println!("cargo:rerun-if-changed=proto/onnx.proto");
    let descriptors =
        protox::compile(["onnx.proto"], ["proto"]).expect("compiling proto/onnx.proto");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("generating the ONNX types");
}
