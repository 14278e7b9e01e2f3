//! Build steps: the ONNX protobuf types, compiled from the vendored `proto/onnx.proto` by protox
//! (a protobuf compiler in Rust, so no protoc is needed) and prost-build; and for the `graft`
//! binary, an rpath to the libtorch that torch-sys linked against, with libtorch_cuda kept in
//! the link so CUDA is available when present (the default `--as-needed` drops it, as nothing
//! references it by symbol).
use std::path::PathBuf;

fn main() {
    onnx_types();
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Ok(libtorch) = std::env::var("LIBTORCH") else {
        return;
    };
    let lib = PathBuf::from(libtorch).join("lib");
    let lib = lib.canonicalize().unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
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
