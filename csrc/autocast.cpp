// libtorch's autocast for the CPU (and CUDA) in bfloat16: tch only switches CUDA's, in its
// default float16. Convolutions and matrix products then run in bf16, the rest as before. And
// whether this CPU runs oneDNN's bf16 kernels at all.
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

extern "C" {

// Turns bf16 autocast on for this thread's CPU and CUDA work, unless it is on already; returns
// whether it turned it on (then graft_autocast_bf16_end must follow).
bool graft_autocast_bf16_begin() {
  if (at::autocast::is_autocast_enabled(at::kCPU)) return false;
  for (auto device : {at::kCPU, at::kCUDA}) {
    at::autocast::set_autocast_dtype(device, at::kBFloat16);
    at::autocast::set_autocast_enabled(device, true);
  }
  at::autocast::increment_nesting();
  return true;
}

// Turns it off again; the outermost region's end drops autocast's cache of cast weights, as
// torch.autocast does.
void graft_autocast_bf16_end() {
  for (auto device : {at::kCPU, at::kCUDA}) at::autocast::set_autocast_enabled(device, false);
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
}

// Whether oneDNN runs bf16 kernels on this CPU (it needs AVX512-BW/VL/DQ or AVX-NE-CONVERT), by
// libtorch's own check `mkldnn::_is_mkldnn_bf16_supported`. Without them oneDNN's bf16
// convolutions raise (csrc/fused_conv.cpp calls one directly) and libtorch's emulate bf16.
bool graft_onednn_bf16() {
  static const bool supported = [] {
    try {
      const auto op =
          c10::Dispatcher::singleton().findSchema({"mkldnn::_is_mkldnn_bf16_supported", ""});
      if (!op.has_value()) return false;
      torch::jit::Stack stack;
      op->callBoxed(&stack);
      return stack.at(0).toBool();
    } catch (...) {
      return false;
    }
  }();
  return supported;
}
}
