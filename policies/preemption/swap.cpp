// Swap preemption (vLLM's swap mode; also what CPU/CXL KV offload does on eviction): copy the
// victim's KV to a slower tier (host DRAM by default, or any tier of the node named by `to`,
// e.g. CXL memory or Grace LPDDR5X) and copy it back when the sequence resumes, so no prompt is
// recomputed. The copies cross the node's links as real, contended transfers. Each device
// reserves `swap_space` bytes in the tier (vLLM's swap_space, 4 GiB by default); when a victim's
// KV does not fit there it is dropped and recomputed instead, and the summary counts it.
#include <cmath>
#include <utility>

#include "policies/preemption/preemption.hpp"
#include "sim/core/config.hpp"
#include "sim/core/error.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class SwapPreemption final : public Preemption {
 public:
  explicit SwapPreemption(const config::Node& cfg)
      : space_bytes_(cfg.quantity("swap_space", units::Dim::bytes).default_to("4 GiB").positive()),
        tier_(cfg.get<std::string>("to").default_to("")) {}

  void size(const KvSizing& s) override {
    capacity_tokens_ = static_cast<std::int64_t>(std::floor(space_bytes_ / s.kv_bytes_per_token));
  }

  void evict(Sequence& seq, KvManager& kv) override {
    const std::int64_t tokens = seq.computed;
    kv.release(seq);
    ++seq.preemptions;
    if (tokens > 0 && used_tokens_ + tokens <= capacity_tokens_) {
      seq.swapped_tokens = tokens;
      used_tokens_ += tokens;
      swapped_out_ += tokens;
    } else {
      seq.computed = 0;  // no swap space left: recompute, as vLLM does for a sequence it cannot swap
    }
  }

  std::int64_t swap_in(Sequence& seq) override {
    const std::int64_t tokens = seq.swapped_tokens;
    if (tokens > used_tokens_ || tokens != seq.computed)
      throw InvariantError(fmt::format("sequence {}: swapping in {} tokens, {} in swap space, {} computed", seq.id, tokens,
                                       used_tokens_, seq.computed));
    used_tokens_ -= tokens;
    seq.swapped_tokens = 0;
    return tokens;
  }

  std::int64_t take_swapped_out() override { return std::exchange(swapped_out_, 0); }
  bool moves_kv() const override { return true; }
  std::string swap_tier() const override { return tier_; }
  double swap_space_bytes() const override { return space_bytes_; }

 private:
  double space_bytes_;
  std::string tier_;
  std::int64_t capacity_tokens_ = 0;
  std::int64_t used_tokens_ = 0;
  std::int64_t swapped_out_ = 0;
};

}  // namespace
HETSIM_REGISTER(Preemption, SwapPreemption, "swap",
                "copy the KV to a slower tier over the node's links and back on resume (swap_space per device, to: TIER)");
}  // namespace hetsim::policies
