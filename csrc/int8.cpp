// int8 inference for graft's quantized backbones (models/int8): convolution kernels quantized
// per output channel and packed once for libtorch's x86 quantized backend (fbgemm, or oneDNN
// where it is faster), and the quantized operations between them. Activations are quint8 with
// one scale and zero point per tensor, chosen by calibration on the Rust side.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include "guarded.hpp"

namespace {

c10::OperatorHandle op(const char* name, const char* overload) {
  const auto h = c10::Dispatcher::singleton().findSchema({name, overload});
  TORCH_CHECK(h.has_value(), "this libtorch has no operator ", name, ".", overload,
              " (it was built without quantized kernels)");
  return *h;
}

at::Tensor call(const c10::OperatorHandle& handle, torch::jit::Stack stack) {
  handle.callBoxed(&stack);
  return stack.at(0).toTensor();
}

}  // namespace

extern "C" {

// Whether this libtorch has the x86 quantized engine (fbgemm with oneDNN), which every
// operation here runs on.
bool graft_int8_available() {
  try {
    const auto engines = at::globalContext().supportedQEngines();
    return std::find(engines.begin(), engines.end(), at::QEngine::X86) != engines.end();
  } catch (...) {
    return false;
  }
}

// Kernel `w` [O, I/g, kh, kw] (float32) quantized symmetrically per output channel to int8 and
// packed with its float32 bias `b` for a convolution of stride s, padding p and `groups`.
// `*packed` is a new handle, freed by graft_int8_free.
char* graft_int8_pack_conv(at::Tensor* w, at::Tensor* b, int64_t sh, int64_t sw, int64_t ph,
                           int64_t pw, int64_t groups, void** packed) {
  return guarded([&] {
    at::globalContext().setQEngine(at::QEngine::X86);
    const auto weight = w->contiguous();
    const auto scales =
        (weight.abs().amax({1, 2, 3}).clamp_min(1e-12) / 127.0).to(at::kDouble);
    const auto zeros = at::zeros({weight.size(0)}, at::kLong);
    const auto qw = at::quantize_per_channel(weight, scales, zeros, 0, at::kQInt8);
    static const auto prepack = op("quantized::conv2d_prepack", "");
    torch::jit::Stack stack{qw,
                            b->contiguous(),
                            std::vector<int64_t>{sh, sw},
                            std::vector<int64_t>{ph, pw},
                            std::vector<int64_t>{1, 1},
                            groups};
    prepack.callBoxed(&stack);
    *packed = new c10::IValue(std::move(stack.at(0)));
  });
}

void graft_int8_free(void* packed) { delete static_cast<c10::IValue*>(packed); }

// The packed convolution on quint8 `qx`, its output quantized with (scale, zero_point), with
// its ReLU applied in the same kernel when `relu`.
char* graft_int8_conv(void* packed, at::Tensor* qx, double scale, int64_t zero_point, bool relu,
                      at::Tensor** out) {
  return guarded([&] {
    static const auto conv = op("quantized::conv2d", "new");
    static const auto conv_relu = op("quantized::conv2d_relu", "new");
    const auto& params = *static_cast<c10::IValue*>(packed);
    *out = new at::Tensor(call(relu ? conv_relu : conv, {*qx, params, scale, zero_point}));
  });
}

// a + b of two quint8 tensors, quantized with (scale, zero_point).
char* graft_int8_add(at::Tensor* a, at::Tensor* b, double scale, int64_t zero_point,
                     at::Tensor** out) {
  return guarded([&] {
    static const auto add = op("quantized::add", "");
    *out = new at::Tensor(call(add, {*a, *b, scale, zero_point}));
  });
}

// The `n` quint8 tensors `xs` concatenated along channels, quantized with (scale, zero_point).
char* graft_int8_cat(at::Tensor** xs, int64_t n, double scale, int64_t zero_point,
                     at::Tensor** out) {
  return guarded([&] {
    static const auto cat = op("quantized::cat", "");
    c10::List<at::Tensor> parts;
    for (int64_t i = 0; i < n; ++i) parts.push_back(*xs[i]);
    *out = new at::Tensor(call(cat, {parts, int64_t{1}, scale, zero_point}));
  });
}
}
