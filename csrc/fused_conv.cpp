// An inference convolution with its activation fused in (oneDNN's post-op, the kernel PyTorch's
// Inductor uses on CPUs), in fp32 and bf16 on the CPU: a separate activation pass reads and
// writes the whole output again (a bf16 ReLU runs at half the speed of fp32's on this libtorch,
// 17.8 against 7.9 ms over 34M values in place), and the stems' activations are the networks'
// largest (a conv then its ReLU: 33.9 against 17.7 ms fused at 91x91x32, batch 64, bf16).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/csrc/jit/frontend/tracer.h>

#include "autocast.hpp"
#include "guarded.hpp"

namespace {

// The fused kernel's operator, when this libtorch has it (built with oneDNN).
const std::optional<c10::OperatorHandle>& pointwise() {
  static const auto op =
      c10::Dispatcher::singleton().findSchema({"mkldnn::_convolution_pointwise", ""});
  return op;
}

}  // namespace

extern "C" {

// `x` convolved by `w` with bias `b` (stride s, padding p, `groups`), with no gradient recorded,
// then its activation (0 none, 1 ReLU, 2 ReLU6) fused into the same oneDNN kernel where that
// kernel exists and `x` is on the CPU, in float32 or under bf16 autocast (`*activation_done`
// says so; elsewhere, and while tracing, libtorch's conv2d with the activation left to the
// caller). `*out` is a new tensor.
char* graft_inference_conv2d(at::Tensor* x, at::Tensor* w, at::Tensor* b, int64_t sh, int64_t sw,
                             int64_t ph, int64_t pw, int64_t groups, int32_t activation,
                             at::Tensor** out, bool* activation_done) {
  return guarded([&] {
    at::NoGradGuard no_grad;
    const bool bf16 = autocast_bf16_on_cpu(*x) && graft_onednn_bf16();
    const bool fp32 = x->device().is_cpu() && x->scalar_type() == at::kFloat &&
                      !at::autocast::is_autocast_enabled(at::kCPU);
    // A trace (graft export) records libtorch's portable operations, not oneDNN's.
    *activation_done = activation != 0 && (bf16 || fp32) && pointwise().has_value() &&
                       !torch::jit::tracer::isTracing();
    at::Tensor y;
    if (*activation_done) {
      const auto cast = [&](const at::Tensor& t) { return bf16 ? t.to(at::kBFloat16) : t; };
      const bool relu6 = activation == 2;
      auto scalars = c10::List<std::optional<at::Scalar>>();
      if (relu6) {
        scalars.push_back(at::Scalar(0.0));
        scalars.push_back(at::Scalar(6.0));
      }
      torch::jit::Stack stack{cast(*x),
                              cast(*w),
                              cast(*b),
                              std::vector<int64_t>{ph, pw},
                              std::vector<int64_t>{sh, sw},
                              std::vector<int64_t>{1, 1},
                              groups,
                              std::string(relu6 ? "hardtanh" : "relu"),
                              scalars,
                              c10::IValue()};
      pointwise()->callBoxed(&stack);
      y = stack[0].toTensor();
    } else {
      y = at::conv2d(*x, *w, *b, {sh, sw}, {ph, pw}, {1, 1}, groups);
    }
    *out = new at::Tensor(std::move(y));
  });
}
}
