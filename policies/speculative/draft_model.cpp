// A separate, smaller draft model of the same tokenizer (Leviathan et al., ICML'23; vLLM's
// draft-model speculation), e.g. Llama-3.2-1B for Llama-3.1-8B: k autoregressive decode passes per
// step, its own weights and KV cache on the same devices, at the target's tensor parallelism.
#include "sim/core/catalog.hpp"
#include "sim/core/registry.hpp"
#include "sim/serving/speculation.hpp"

namespace hetsim::policies {
namespace {

class DraftModelDrafter final : public Drafter {
 public:
  explicit DraftModelDrafter(const config::Node& node) : node_(node) {
    auto layered = catalog::with_preset(node, "model", "models/catalog");
    draft_ = models::parse_model(layered.node);
    layered.preset.check_unknown_keys();
  }

  models::ModelSpec draft_model(const models::ModelSpec& target) const override {
    if (draft_.vocab_size != target.vocab_size)
      node_.fail_key("model", draft_.name,
                     fmt::format("a draft model shares its target's tokenizer: {} has a vocabulary of {}, {} of {}",
                                 draft_.name, draft_.vocab_size, target.name, target.vocab_size));
    return draft_;
  }
  double weight_bytes_per_device(const models::ModelSpec&, int tp) const override {
    draft_.check_tensor_parallel(tp, node_, "model");
    return draft_.weight_bytes_per_device(tp);
  }
  double kv_bytes_per_token(const models::ModelSpec&, int tp) const override { return draft_.kv_bytes_per_token(tp); }

 private:
  config::Node node_;
  models::ModelSpec draft_;
};

}  // namespace
HETSIM_REGISTER(Drafter, DraftModelDrafter, "draft_model",
                "a separate small model of the same tokenizer, k decode passes per step");
}  // namespace hetsim::policies
