// Adam's update as libtorch's fused kernel (torch.optim.Adam(fused=True)): one pass over each
// parameter instead of six elementwise ops, on an update that memory bandwidth bounds
// (InceptionV3's upper blocks: 34 against 15 ms a step here). tch does not bind it: it updates
// lists of tensors in place.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <vector>

#include "guarded.hpp"

extern "C" {

// One Adam step (torch.optim.Adam, no weight decay) of the `n` parameters `params` from their
// gradients, updating the first and second moments `m` and `v` (each tensor of the four lists
// with its parameter's shape and strides), at update `step` (from 1).
char* graft_fused_adam(at::Tensor** params, at::Tensor** grads, at::Tensor** m, at::Tensor** v,
                       size_t n, int64_t step, double lr, double beta1, double beta2,
                       double eps) {
  return guarded([&] {
    std::vector<at::Tensor> p, g, ms, vs, steps;
    // The kernel reads each parameter's step count from a float tensor; one serves them all.
    auto t = at::full({}, double(step), params[0]->options().dtype(at::kFloat));
    for (size_t i = 0; i < n; i++) {
      p.push_back(*params[i]);
      g.push_back(*grads[i]);
      ms.push_back(*m[i]);
      vs.push_back(*v[i]);
      steps.push_back(t);
    }
    at::NoGradGuard no_grad;
    at::_fused_adam_(p, g, ms, vs, {}, steps, lr, beta1, beta2, 0.0, eps, false, false);
  });
}
}
