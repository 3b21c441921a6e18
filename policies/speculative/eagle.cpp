// EAGLE-style draft head (Li et al., ICML'24; EAGLE-3, 2025): one decoder layer of the target's
// shape that reads the target's hidden states (fused with the token embedding by a 2h -> h linear
// layer) and proposes the next token through the target's own embedding and LM head, one pass per
// draft token. vLLM runs it with the target's tensor parallelism.
#include "sim/core/registry.hpp"
#include "sim/serving/speculation.hpp"

namespace hetsim::policies {
namespace {

class EagleDrafter final : public Drafter {
 public:
  explicit EagleDrafter(const config::Node& node)
      : layers_(node.get<std::int64_t>("layers").default_to(1).in_range(1, 8)) {}

  models::ModelSpec draft_model(const models::ModelSpec& target) const override {
    models::ModelSpec d = target;
    d.name = target.name + "-eagle";
    d.num_hidden_layers = layers_;
    d.moe = {};  // the head's MLP is dense, of the target's dense width
    return d;
  }
  double weight_bytes_per_device(const models::ModelSpec& target, int tp) const override {
    // Its decoder layers and the fusing linear layer; embedding and LM head are the target's.
    const models::ModelSpec d = draft_model(target);
    const double h = static_cast<double>(target.hidden_size);
    return (d.layer_weight_bytes() * static_cast<double>(layers_) + 2 * h * h * bytes_per_element(d.precision.weights)) / tp;
  }
  double kv_bytes_per_token(const models::ModelSpec& target, int tp) const override {
    return draft_model(target).kv_bytes_per_token(tp);
  }
  std::vector<double> default_acceptance() const override { return {0.58, 0.34, 0.22, 0.15, 0.11}; }
  std::string acceptance_source() const override {
    return "EAGLE-3 head in vLLM, per-position acceptance (vllm-project/vllm issue #24243)";
  }

 private:
  std::int64_t layers_;
};

}  // namespace
HETSIM_REGISTER(Drafter, EagleDrafter, "eagle",
                "an EAGLE-style draft head: one decoder layer of the target's shape on its hidden states");
}  // namespace hetsim::policies
