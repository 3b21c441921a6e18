// Swap preemption (vLLM's swap mode; also what CPU/CXL KV offload does on eviction): move the
// victim's KV blocks to a slower tier (host DRAM by default, or any tier of the node named by `to`,
// e.g. CXL memory or Grace LPDDR5X) and back when the sequence resumes, so no prompt is
// recomputed. The copies cross the node's links as real, contended transfers. Each device
// reserves `swap_space` bytes in the tier (vLLM's swap_space, 4 GiB by default), as whole blocks;
// when a victim's blocks do not fit there they are dropped and recomputed instead.
#include "sim/serving/preemption.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class SwapPreemption final : public Preemption {
 public:
  explicit SwapPreemption(const config::Node& cfg)
      : cfg_(cfg),
        space_bytes_(cfg.quantity("swap_space", units::Dim::bytes).default_to("4 GiB").positive()),
        tier_(cfg.get<std::string>("to").default_to("")) {}

  std::vector<KvTierRequest> kv_tiers() const override { return {{tier_, space_bytes_, cfg_, "to", "swap_space"}}; }
  void bind_kv_tiers(std::span<const serving::KvTierIndex> tiers) override { swap_tier_ = tiers[0]; }

  void evict(Sequence& seq, KvManager& kv) override {
    ++seq.preemptions;
    if (seq.computed > 0 && swap_tier_ != serving::kDeviceTier && kv.move_out(seq, swap_tier_, seq.computed)) return;
    kv.release(seq);
    seq.computed = 0;  // no swap space left: recompute, as vLLM does for a sequence it cannot swap
  }

 private:
  config::Node cfg_;
  double space_bytes_;
  std::string tier_;
  serving::KvTierIndex swap_tier_ = serving::kDeviceTier;
};

}  // namespace
HETSIM_REGISTER(Preemption, SwapPreemption, "swap",
                "move the KV blocks to a slower tier over the node's links and back on resume (swap_space per device, to: TIER)");
}  // namespace hetsim::policies
