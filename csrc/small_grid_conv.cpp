// A trained convolution whose kernel gradient is one matrix product, for bf16 convolutions on
// the CPU with small outputs (at most 8x8 positions per image: InceptionV3's mixed_8..10 at the
// recipe's sizes). There oneDNN's bf16 kernel-gradient pass runs 2-4x slower than a GEMM of the
// same arithmetic (measured on an AMX Xeon, batch 64: mixed_9/10's 1x1 kernels 3-8 against 1-1.7
// ms, their 3x3 13 against 3.2 ms), while on larger grids it is the faster one (up to 10x: the
// patch matrix a GEMM needs grows with the grid). The forward pass and the input's gradient stay
// libtorch's convolution; tch cannot define an autograd function, hence C++.
#include <ATen/autocast_mode.h>
#include <torch/autograd.h>

#include "autocast.hpp"
#include "guarded.hpp"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Output positions per image up to which the kernel gradient is a GEMM.
constexpr int64_t kSmallGrid = 64;

// dL/dw of a stride-`s`, padding-`p`, groups-1 convolution: the output gradient (rows: the N*Ho*Wo
// output positions, columns: output channels) transposed times the input's patches (rows: the
// same positions, columns: the kernel's kh*kw*C taps in channels-last order), so the result is
// the kernel in channels-last memory. A 1x1 stride-1 kernel's patches are the input itself.
at::Tensor kernel_grad(const at::Tensor& dy, const at::Tensor& x, int64_t kh, int64_t kw,
                       at::IntArrayRef s, at::IntArrayRef p) {
  const int64_t n = x.size(0), c = x.size(1), o = dy.size(1), ho = dy.size(2), wo = dy.size(3);
  auto rows = dy.permute({0, 2, 3, 1}).reshape({n * ho * wo, o});
  auto xs = x.permute({0, 2, 3, 1});
  at::Tensor patches;
  if (kh == 1 && kw == 1 && s[0] == 1 && s[1] == 1 && p[0] == 0 && p[1] == 0) {
    patches = xs.reshape({n * ho * wo, c});
  } else {
    auto padded = at::constant_pad_nd(xs, {0, 0, p[1], p[1], p[0], p[0]}).contiguous();
    const int64_t hp = padded.size(1), wp = padded.size(2);
    patches = padded
                  .as_strided({n, ho, wo, kh, kw, c},
                              {hp * wp * c, s[0] * wp * c, s[1] * c, wp * c, c, 1})
                  .reshape({n * ho * wo, kh * kw * c});
  }
  return rows.t().mm(patches).view({o, kh, kw, c}).permute({0, 3, 1, 2});
}

struct SmallGridConv : public torch::autograd::Function<SmallGridConv> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor w, int64_t sh,
                            int64_t sw, int64_t ph, int64_t pw) {
    ctx->save_for_backward({x, w});
    ctx->saved_data["s"] = std::vector<int64_t>{sh, sw};
    ctx->saved_data["p"] = std::vector<int64_t>{ph, pw};
    return at::convolution(x, w, {}, {sh, sw}, {ph, pw}, {1, 1}, false, {0, 0}, 1);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& w = saved[1];
    auto s = ctx->saved_data["s"].toIntVector();
    auto p = ctx->saved_data["p"].toIntVector();
    auto dy = grads[0];
    at::Tensor dx, dw;
    if (ctx->needs_input_grad(0)) {
      dx = std::get<0>(at::convolution_backward(dy, x, w, std::nullopt, s, p, {1, 1}, false,
                                                {0, 0}, 1, {true, false, false}));
    }
    if (ctx->needs_input_grad(1)) dw = kernel_grad(dy, x, w.size(2), w.size(3), s, p);
    return {dx, dw, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

extern "C" {

// A groups-1 convolution of `x` by `w` (no bias) as at::conv2d computes it, autocast included;
// where autocast makes it bf16 on the CPU and its output grid is small, through SmallGridConv.
// `*out` is a new tensor.
char* graft_trained_conv2d(at::Tensor* x, at::Tensor* w, int64_t sh, int64_t sw, int64_t ph,
                           int64_t pw, at::Tensor** out) {
  return guarded([&] {
    const int64_t ho = (x->size(2) + 2 * ph - w->size(2)) / sh + 1;
    const int64_t wo = (x->size(3) + 2 * pw - w->size(3)) / sw + 1;
    at::Tensor y;
    if (autocast_bf16_on_cpu(*x) && ho * wo <= kSmallGrid) {
      // Autocast's casts, made here so that autograd records them outside the function.
      auto xb = at::autocast::cached_cast(at::kBFloat16, *x, at::kCPU);
      auto wb = at::autocast::cached_cast(at::kBFloat16, *w, at::kCPU);
      y = SmallGridConv::apply(xb, wb, sh, sw, ph, pw);
    } else {
      y = at::conv2d(*x, *w, {}, {sh, sw}, {ph, pw});
    }
    *out = new at::Tensor(std::move(y));
  });
}
}
