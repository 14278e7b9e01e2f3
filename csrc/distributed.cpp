// graft's bridge to torch.distributed's C++ process groups (c10d), which tch does not bind:
// a TCPStore rendezvous and a ProcessGroupGloo over it, and the collectives graft needs, behind a
// C interface. Errors come back as messages (never as C++ exceptions across the boundary).
#include "group.hpp"

extern "C" {

// Joins the group: rank 0 serves the store at host:port unless `agent_store` (torchrun's agent
// already serves it; then keys live under `prefix`, as torch's own env:// rendezvous does).
char* graft_group_join(const char* host, uint16_t port, int rank, int world, int64_t timeout_ms,
                       int agent_store, const char* prefix, const char* ifname,
                       graft_group** out) {
  return guarded([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions opts;
    opts.port = port;
    opts.isServer = !agent_store && rank == 0;
    opts.numWorkers = world;
    opts.waitWorkers = !agent_store;
    opts.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(host, opts);
    if (prefix && *prefix) {
      store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
    }
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(
        ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                          : c10d::ProcessGroupGloo::createDefaultDevice());
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    *out = new graft_group{store, pg};
  });
}

void graft_group_free(graft_group* g) { delete g; }

// Sums `t` over the ranks, in place.
char* graft_group_all_reduce_sum(graft_group* g, at::Tensor* t, int64_t timeout_ms) {
  return guarded([&] { all_reduce_sum(g, *t, timeout_ms); });
}

// Copies rank `root`'s `t` into every rank's `t`.
char* graft_group_broadcast(graft_group* g, at::Tensor* t, int root, int64_t timeout_ms) {
  return guarded([&] {
    std::vector<at::Tensor> ts{*t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.timeout = ms(timeout_ms);
    g->pg->broadcast(ts, o)->wait(ms(timeout_ms));
  });
}

// Every rank's `t` (same shape on each) into `out` [world, ...], in rank order.
char* graft_group_all_gather(graft_group* g, at::Tensor* t, at::Tensor* out,
                             int64_t timeout_ms) {
  return guarded([&] {
    std::vector<at::Tensor> in{*t};
    std::vector<std::vector<at::Tensor>> outs(1);
    outs[0] = out->unbind(0);
    c10d::AllgatherOptions o;
    o.timeout = ms(timeout_ms);
    g->pg->allgather(outs, in, o)->wait(ms(timeout_ms));
  });
}

char* graft_group_barrier(graft_group* g, int64_t timeout_ms) {
  return guarded([&] {
    c10d::BarrierOptions o;
    o.timeout = ms(timeout_ms);
    g->pg->barrier(o)->wait(ms(timeout_ms));
  });
}

}
