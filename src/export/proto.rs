//! The ONNX protobuf messages (`ModelProto`, `GraphProto`, `NodeProto`, ...), generated at build
//! time from the vendored `proto/onnx.proto` (see build.rs).
#![allow(missing_docs, clippy::all, clippy::pedantic)]
include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
