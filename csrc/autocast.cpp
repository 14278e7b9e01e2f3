// libtorch's autocast for the CPU (and CUDA) in bfloat16: tch only switches CUDA's, in its
// default float16. Convolutions and matrix products then run in bf16, the rest as before.
#include <ATen/autocast_mode.h>

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
}
