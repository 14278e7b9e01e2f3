// The question graft's convolutions ask of libtorch's autocast (which autocast.cpp switches on).
#pragma once
#include <ATen/autocast_mode.h>
#include <ATen/core/Tensor.h>

// Whether autocast makes work on `x` bf16: `x` is a CPU tensor and autocast is on for the CPU in
// bfloat16.
inline bool autocast_bf16_on_cpu(const at::Tensor& x) {
  return x.device().is_cpu() && at::autocast::is_autocast_enabled(at::kCPU) &&
         at::autocast::get_autocast_dtype(at::kCPU) == at::kBFloat16;
}

// Whether oneDNN runs bf16 kernels on this CPU (autocast.cpp).
extern "C" bool graft_onednn_bf16();
