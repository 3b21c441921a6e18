// Prefill/decode disaggregation (Splitwise, Patel et al. ISCA'24; DistServe, Zhong et al. OSDI'24):
// prompts run on prefill instances; after its first token a sequence moves with its KV to a decode
// instance over the platform network (decode blocks reserved when the transfer starts, the
// prefill blocks freed when it lands) and decodes there. The decode instance is the one the
// router planned, else the decode instance with the fewest outstanding requests that has room
// (ties: lowest index). When no decode instance has room the sequence keeps decoding where it is
// (no stall; DistServe instead queues it). A semi-PD prefill worker hands to the decode worker on
// its own devices first (they share the KV memory: nothing is copied). Instances of role `both`
// are never handed anything.
//   transfer: after_prefill | layerwise   the KV leaves after the prefill, or streams out layer
//             by layer while the prompt computes (Splitwise; only the part the route could not
//             carry meanwhile, at least the last layer's, is left after the prefill)
//   setup: TIME          per flow, before the first byte (default 0)
//   first_token: decode | prefill   when the client sees its first token: once the KV has landed
//             on the decode instance (default; vLLM's disaggregated prefill, llm-d, Dynamo: the
//             decode instance streams every token), or when the prefill made it (Splitwise)
//   min_uncached_tokens: N   hand off only prompts with at least N tokens not found in the
//             prefix cache; shorter ones decode where they were prefilled (default 0: all;
//             llm-d's P/D threshold on the uncached prompt)
#include <limits>

#include "sim/core/registry.hpp"
#include "sim/core/units.hpp"
#include "sim/serving/controller.hpp"

namespace hetsim::policies {
namespace {

class PdDisaggregation final : public Controller {
 public:
  explicit PdDisaggregation(const config::Node& cfg)
      : layerwise_(cfg.get<std::string>("transfer").default_to("after_prefill").one_of({"after_prefill", "layerwise"}).value() ==
                   "layerwise"),
        min_uncached_(cfg.get<std::int64_t>("min_uncached_tokens").default_to(0).in_range(0, std::int64_t{1} << 40)) {
    options_.setup = cfg.quantity("setup", units::Dim::time).default_to("0 s").non_negative();
    if (options_.setup > 1) cfg.fail_key("setup", fmt::format("{:g} s", options_.setup), "at most 1 s per flow");
    options_.first_token_on_landing =
        cfg.get<std::string>("first_token").default_to("decode").one_of({"decode", "prefill"}).value() == "decode";
  }
  void attach(serving::ClusterFacade& cluster) override { cluster_ = &cluster; }

  bool on_prefill_done(Sequence& seq, std::size_t instance) override {
    if (cluster_->role(instance) != serving::InstanceRole::prefill) return false;
    if (seq.prompt_tokens - std::max<std::int64_t>(0, seq.cached_tokens) < min_uncached_) return false;
    std::size_t target = cluster_->instances();
    const auto partner = cluster_->partner(instance);
    if (seq.decode_instance >= 0 && cluster_->can_hold(seq, static_cast<std::size_t>(seq.decode_instance))) {
      target = static_cast<std::size_t>(seq.decode_instance);
    } else if (partner && cluster_->role(*partner) == serving::InstanceRole::decode && cluster_->can_hold(seq, *partner)) {
      target = *partner;  // semi-PD: the decode worker on the same devices, no bytes to move
    } else {
      std::int64_t best = std::numeric_limits<std::int64_t>::max();
      for (std::size_t i = 0; i < cluster_->instances(); ++i) {
        if (cluster_->role(i) != serving::InstanceRole::decode || !cluster_->can_hold(seq, i)) continue;
        const std::int64_t load = cluster_->load(i).outstanding;
        if (load < best) best = load, target = i;
      }
    }
    if (target == cluster_->instances()) return false;  // nowhere to go: keep decoding here
    serving::ClusterFacade::MoveOptions options = options_;
    // Its KV was computed from its first step until now.
    if (layerwise_) options.streamed_window = std::max(0.0, cluster_->now() - seq.first_scheduled);
    cluster_->move_sequence(seq, instance, target, options);  // reserves the decode blocks now
    return true;
  }

 private:
  bool layerwise_;
  std::int64_t min_uncached_;
  serving::ClusterFacade::MoveOptions options_;
  serving::ClusterFacade* cluster_ = nullptr;
};

}  // namespace
HETSIM_REGISTER(Controller, PdDisaggregation, "pd_disaggregation",
                "prefill/decode disaggregation: after the first token, move the sequence and its KV to a decode instance");
}  // namespace hetsim::policies
