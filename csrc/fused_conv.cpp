// An inference convolution with its ReLU fused in (oneDNN's post-op, the kernel PyTorch's
// Inductor uses on CPUs), for bf16 on the CPU: a bf16 ReLU over a separate pass runs at half the
// speed of fp32's on this libtorch (17.8 against 7.9 ms over 34M values in place), and the
// stem's activations are the network's largest (a conv then its ReLU: 33.9 against 17.7 ms
// fused at 91x91x32, batch 64).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

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

// `x` convolved by `w` with bias `b` (stride s, padding p, `groups`), with no gradient recorded;
// when `relu`, autocast is bf16 on the CPU and the fused kernel exists, followed by its ReLU in
// the same kernel (`*relu_done` says so). `*out` is a new tensor.
char* graft_inference_conv2d(at::Tensor* x, at::Tensor* w, at::Tensor* b, int64_t sh, int64_t sw,
                             int64_t ph, int64_t pw, int64_t groups, bool relu, at::Tensor** out,
                             bool* relu_done) {
  return guarded([&] {
    at::NoGradGuard no_grad;
    *relu_done = relu && autocast_bf16_on_cpu(*x) && pointwise().has_value();
    at::Tensor y;
    if (*relu_done) {
      const auto bf = [](const at::Tensor& t) { return t.to(at::kBFloat16); };
      torch::jit::Stack stack{bf(*x),
                              bf(*w),
                              bf(*b),
                              std::vector<int64_t>{ph, pw},
                              std::vector<int64_t>{sh, sw},
                              std::vector<int64_t>{1, 1},
                              groups,
                              std::string("relu"),
                              c10::List<std::optional<at::Scalar>>(),
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
