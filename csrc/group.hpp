// What graft's two c10d files share: the joined group and its all-reduce.
#pragma once
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "guarded.hpp"

struct graft_group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

// Each collective's own bound, for Gloo's transfers and for the wait on them.
using ms = std::chrono::milliseconds;

// Sums `t` over the ranks, in place; throws on failure.
inline void all_reduce_sum(graft_group* g, at::Tensor& t, int64_t timeout_ms) {
  std::vector<at::Tensor> ts{t};
  c10d::AllreduceOptions o;
  o.timeout = ms(timeout_ms);
  g->pg->allreduce(ts, o)->wait(ms(timeout_ms));
}
