// Recompute preemption (vLLM's default): drop the sequence's KV; on resumption it re-prefills its
// prompt and the tokens generated so far. Cheap in memory traffic, paid in compute.
#include "sim/serving/preemption.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class RecomputePreemption final : public Preemption {
 public:
  explicit RecomputePreemption(const config::Node&) {}
  void evict(Sequence& seq, KvManager& kv) override {
    kv.release(seq);
    seq.computed = 0;
    ++seq.preemptions;
  }
};

}  // namespace
HETSIM_REGISTER(Preemption, RecomputePreemption, "recompute", "drop the KV; re-prefill prompt + generated tokens on resume");
}  // namespace hetsim::policies
