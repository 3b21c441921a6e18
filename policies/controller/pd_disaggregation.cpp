// Prefill/decode disaggregation (Splitwise, Patel et al. ISCA'24; DistServe, Zhong et al. OSDI'24):
// prompts run on prefill instances; after its first token a sequence moves with its KV to a decode
// instance over the platform network (decode blocks reserved when the transfer starts, the
// prefill blocks freed when it lands) and decodes there. The decode instance is the one the
// router planned, else the decode instance with the fewest outstanding requests that has room
// (ties: lowest index). When no decode instance has room the sequence keeps decoding where it is
// (no stall; DistServe instead queues it). Instances of role `both` are never handed anything.
#include <limits>

#include "sim/serving/controller.hpp"
#include "sim/core/registry.hpp"

namespace hetsim::policies {
namespace {

class PdDisaggregation final : public Controller {
 public:
  explicit PdDisaggregation(const config::Node&) {}
  void attach(serving::ClusterFacade& cluster) override { cluster_ = &cluster; }

  bool on_prefill_done(Sequence& seq, std::size_t instance) override {
    if (cluster_->role(instance) != serving::InstanceRole::prefill) return false;
    std::size_t target = cluster_->instances();
    if (seq.decode_instance >= 0 && cluster_->can_hold(seq, static_cast<std::size_t>(seq.decode_instance))) {
      target = static_cast<std::size_t>(seq.decode_instance);
    } else {
      std::int64_t best = std::numeric_limits<std::int64_t>::max();
      for (std::size_t i = 0; i < cluster_->instances(); ++i) {
        if (cluster_->role(i) != serving::InstanceRole::decode || !cluster_->can_hold(seq, i)) continue;
        const std::int64_t load = cluster_->load(i).outstanding;
        if (load < best) best = load, target = i;
      }
    }
    if (target == cluster_->instances()) return false;  // nowhere to go: keep decoding here
    cluster_->move_sequence(seq, instance, target);  // reserves the decode blocks now
    return true;
  }

 private:
  serving::ClusterFacade* cluster_ = nullptr;
};

}  // namespace
HETSIM_REGISTER(Controller, PdDisaggregation, "pd_disaggregation",
                "prefill/decode disaggregation: after the first token, move the sequence and its KV to a decode instance");
}  // namespace hetsim::policies
