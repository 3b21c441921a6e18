// MEMO (Zhao et al., "MEMO: Fine-grained Tensor Management For Ultra-long Context LLM Training",
// SIGMOD'25): with FlashAttention a layer's compute grows with s^2 and its activations with s, so at
// long context its skeletal activations can go to host memory under its forward and come back under
// the backward of the layer after it. Per token-wise swapping, the layer's input always goes (it is
// h wide, and every recompute starts from it), and for a share `fraction` of the tokens the
// attention output (with its log-sum-exp) goes too; the backward recomputes the layer's linear work
// for every token, and the attention of the other tokens.
//
// hetsim's reading of the paper, stated as such: the swapped tensors are the layer input and the
// attention output (what is quadratic to recompute); the recomputed tokens are the first 1 - fraction
// of each sequence, whose causal attention is the cheapest: (1 - fraction)^2 of the layer's
// attention core. The memory planner (the paper's bi-level MIP against fragmentation) is not
// modelled: the device keeps two layers' full activations (the one computing, the one in transfer).
#include "sim/core/registry.hpp"
#include "sim/training/activation_offload.hpp"

namespace hetsim::policies {
namespace {

class Memo final : public training::ActivationOffloadPolicy {
 public:
  explicit Memo(const config::Node& cfg) : ActivationOffloadPolicy(cfg) {}
  training::SwapShape shape(const training::LayerActivationParts& parts, double fraction) const override {
    const double recomputed = 1 - fraction;
    return {parts.input + fraction * parts.attention_output, 1.0, recomputed * recomputed};
  }
};

}  // namespace
HETSIM_REGISTER(training::ActivationOffloadPolicy, Memo, "memo",
                "token-wise activation swapping: layer inputs and a share of the attention outputs to host, the rest "
                "recomputed (MEMO)");
}  // namespace hetsim::policies
