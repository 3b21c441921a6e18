// Replayed expert loads: one relative load per expert in expert order (e.g. token counts per
// expert from a profile of the real router), normalized to shares.
#include "sim/core/registry.hpp"
#include "sim/serving/expert_gating.hpp"

namespace hetsim::policies {
namespace {

class SharesGating final : public ExpertGating {
 public:
  explicit SharesGating(const config::Node& node) : node_(node) {
    if (!node.has("loads") || !node.child("loads").is_sequence())
      node.fail("expected loads: a list of one relative load per expert (e.g. tokens routed to each)");
    for (const auto& item : node.child("loads").items()) {
      double v = -1;
      if (!item.is_scalar() || !config::detail::convert(item.scalar(), v) || !(v >= 0 && v <= 1e18))
        item.fail(fmt::format("expert load {}: expected a number from 0 to 1e18", item.shown()));
      loads_.push_back(v);
    }
  }
  std::vector<double> shares(std::int64_t experts, std::uint64_t) const override {
    if (static_cast<std::int64_t>(loads_.size()) != experts)
      node_.fail_key("loads", node_.child("loads").shown(),
                     fmt::format("expected one load per expert: the model has {} experts, the list {} entries", experts,
                                 loads_.size()));
    double total = 0;
    for (double v : loads_) total += v;
    if (!(total > 0)) node_.fail_key("loads", node_.child("loads").shown(), "expected some load above 0");
    std::vector<double> share;
    for (double v : loads_) share.push_back(v / total);
    return share;
  }

 private:
  config::Node node_;
  std::vector<double> loads_;
};

}  // namespace
HETSIM_REGISTER(ExpertGating, SharesGating, "shares", "replayed per-expert loads, one per expert in expert order");
}  // namespace hetsim::policies
