// Batch norm over the whole global batch when it is split between ranks (data-parallel
// training): the statistics of the forward pass and the two sums of the backward pass are
// all-reduced, so every rank normalises with the same mean and variance and the gradients equal
// one process's on the whole batch. PyTorch's SyncBatchNorm does this on CUDA only and tch cannot
// define an autograd function, hence this one in C++.
#include <torch/autograd.h>

#include "group.hpp"

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// [C] -> [1, C, 1, 1], to broadcast over an [N, C, H, W] input of any memory format.
at::Tensor per_channel(const at::Tensor& t) { return t.view({1, -1, 1, 1}); }

struct SyncBatchNorm : public torch::autograd::Function<SyncBatchNorm> {
  static at::Tensor forward(AutogradContext* ctx, at::Tensor x, at::Tensor gamma, at::Tensor beta,
                            at::Tensor running_mean, at::Tensor running_var, double momentum,
                            double eps, int64_t group, int64_t timeout_ms) {
    auto g = reinterpret_cast<graft_group*>(group);
    const int64_t c = x.size(1);
    const std::vector<int64_t> dims{0, 2, 3};
    // Sums in double: E[x^2] - E[x]^2 cancels badly in float. A rank with no rows adds zeros.
    auto xd = x.to(at::kDouble);
    auto stats = at::cat({xd.sum(dims), (xd * xd).sum(dims),
                          at::full({1}, double(x.numel() / std::max<int64_t>(c, 1)),
                                   xd.options())});
    all_reduce_sum(g, stats, timeout_ms);
    const double count = stats[2 * c].item<double>();
    TORCH_CHECK(count > 1, "batch norm needs more than one value per channel, got ", count);
    auto mean = stats.slice(0, 0, c) / count;
    auto var = (stats.slice(0, c, 2 * c) / count - mean * mean).clamp_min(0);
    {
      // The running statistics as torch's batch norm keeps them (unbiased variance).
      at::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1 - momentum)
          .add_((var * (count / (count - 1))).to(running_var.scalar_type()), momentum);
    }
    auto invstd = (var + eps).rsqrt().to(x.scalar_type());
    auto xhat = (x - per_channel(mean.to(x.scalar_type()))) * per_channel(invstd);
    auto scale = gamma.detach() * invstd;
    ctx->save_for_backward({xhat, scale});
    ctx->saved_data["group"] = group;
    ctx->saved_data["timeout_ms"] = timeout_ms;
    ctx->saved_data["count"] = count;
    ctx->saved_data["affine"] = gamma.requires_grad();
    return xhat * per_channel(gamma) + per_channel(beta);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& xhat = saved[0];
    const auto& scale = saved[1];
    auto g = reinterpret_cast<graft_group*>(ctx->saved_data["group"].toInt());
    const int64_t timeout_ms = ctx->saved_data["timeout_ms"].toInt();
    const double count = ctx->saved_data["count"].toDouble();
    const int64_t c = xhat.size(1);
    const std::vector<int64_t> dims{0, 2, 3};
    auto dy = grads[0];
    // This rank's sums are its gradients of beta and gamma (the data-parallel all-reduce of
    // the parameters' gradients adds the other ranks'); their global sums give the input's.
    auto local = at::cat({dy.sum(dims), (dy * xhat).sum(dims)});
    auto sums = local.clone();
    all_reduce_sum(g, sums, timeout_ms);
    auto mean_dy = per_channel(sums.slice(0, 0, c) / count);
    auto mean_dy_xhat = per_channel(sums.slice(0, c, 2 * c) / count);
    auto dx = per_channel(scale) * (dy - mean_dy - xhat * mean_dy_xhat);
    auto dgamma = ctx->saved_data["affine"].toBool() ? local.slice(0, c, 2 * c) : at::Tensor();
    auto dbeta = local.slice(0, 0, c);
    return {dx, dgamma, dbeta, at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

extern "C" {

// Training-mode batch norm of `x` [N, C, H, W] with statistics over every rank's rows; `gamma`
// may be null (no scale). Updates the running statistics; `*out` is a new tensor.
char* graft_sync_batch_norm(graft_group* g, at::Tensor* x, at::Tensor* gamma, at::Tensor* beta,
                            at::Tensor* running_mean, at::Tensor* running_var, double momentum,
                            double eps, int64_t timeout_ms, at::Tensor** out) {
  return guarded([&] {
    // Without a scale, a constant one (autograd's apply wants every tensor argument defined).
    auto scale = gamma ? *gamma : at::ones_like(*beta);
    auto y = SyncBatchNorm::apply(*x, scale, *beta, *running_mean, *running_var, momentum, eps,
                                  reinterpret_cast<int64_t>(g), timeout_ms);
    *out = new at::Tensor(std::move(y));
  });
}
}
