#pragma once
// Mixture-of-experts MLPs (Mixtral, Qwen3-MoE, DeepSeek-V3): a router picks `experts_per_token` of
// `experts` routed experts per token, each a gated MLP of width `intermediate`; DeepSeek adds
// always-active shared experts and keeps its first layers dense. Field names as in the models'
// Hugging Face config.json (parse_moe says which field each family uses).
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/config.hpp"

namespace hetsim::models {

/// Where an expert-parallel group of `ranks` devices keeps the routed experts (policies.expert_placement):
/// each rank's slots, an expert and the fraction of that expert's tokens its replica takes (1 for a
/// single copy, 1/r for one of r replicas, which split its tokens evenly, as DeepSeek's EPLB does).
struct ExpertSlots {
  int ranks = 0;
  std::int64_t redundant = 0;  ///< replicas beyond one per expert, spread over the ranks
  struct Slot {
    std::int64_t expert = 0;
    double fraction = 1;
  };
  std::vector<std::vector<Slot>> rank_slots;  ///< [rank] -> its slots
};

struct MoeSpec {
  std::int64_t experts = 0;            ///< routed experts per MoE layer; 0: a dense model
  std::int64_t experts_per_token = 0;  ///< top-k
  std::int64_t intermediate = 0;       ///< width of one routed expert's gated MLP
  std::int64_t shared_experts = 0;     ///< always-active experts (DeepSeek's n_shared_experts)
  std::int64_t shared_intermediate = 0;  ///< width of one shared expert
  std::int64_t dense_layers = 0;       ///< leading decoder layers with a dense MLP (first_k_dense_replace)
  bool score_bias = false;             ///< a per-expert routing bias (DeepSeek-V3's e_score_correction_bias)
  std::int64_t groups = 1;             ///< expert groups for node-limited routing (n_group)
  std::int64_t groups_per_token = 1;   ///< groups a token may route to (topk_group)

  /// Each expert's share of the routed rows, summing to 1 (policies.moe_gating); empty: balanced,
  /// 1/E each. Set by the scenario from the gating policy.
  std::vector<double> expert_share;
  /// Expert placements by expert-parallel group size (policies.expert_placement); none for a size:
  /// vLLM's linear placement, E / ep consecutive experts per rank, one copy each.
  std::vector<ExpertSlots> placements;
  const ExpertSlots* placement(int ranks) const {
    for (const ExpertSlots& p : placements)
      if (p.ranks == ranks) return &p;
    return nullptr;
  }

  bool enabled() const { return experts > 0; }
  /// MoE layers among `layers` decoder layers.
  std::int64_t moe_layers(std::int64_t layers) const { return enabled() ? layers - dense_layers : 0; }
  /// Parameters of one routed expert in one MoE layer: its gate, up and down matrices.
  std::int64_t expert_parameters(std::int64_t hidden) const { return 3 * hidden * intermediate; }
  /// Parameters of one MoE layer's MLP: router (and its bias), routed and shared experts; with
  /// `active_only`, only the experts one token uses (k routed + the shared ones) and the router.
  std::int64_t mlp_parameters(std::int64_t hidden, bool active_only) const;
  /// Parameters of one MoE layer's expert matrices, all experts: what a quantized checkpoint stores
  /// in its weight dtype (the router is not quantized).
  std::int64_t linear_parameters(std::int64_t hidden) const;
};

/// Expected routed tokens per expert when `tokens` tokens each pick k of E experts uniformly
/// (balanced gating): T·k/E.
double balanced_tokens_per_expert(const MoeSpec& moe, double tokens);
/// Expected number of distinct experts that `tokens` tokens touch under balanced gating, each token
/// picking k distinct experts uniformly: E·(1 − (1 − k/E)^T). One token touches k; many touch all E.
/// A decode step reads the weights of exactly these experts, which is why small MoE batches are
/// cheap and large ones cost as much as the dense model of all experts.
double balanced_experts_touched(const MoeSpec& moe, double tokens);

/// The routed rows one device of an expert-parallel group of `ep` ranks computes, and the experts
/// whose weights it reads, for `tokens` tokens: the largest of each over the ranks (the step waits
/// for the slowest rank, whose time is about the larger of its compute and its reads). Expert
/// e lives on rank e / (E / ep) (vLLM's linear placement) unless the model has a placement for ep
/// ranks; a token picks expert e with probability min(1, k·share_e), and one of its r replicas
/// with 1/r of that. ep = 1: all rows, and all experts touched.
struct ExpertRankLoad {
  double rows = 0;     ///< expected (token, expert) rows on the rank
  double touched = 0;  ///< expected distinct experts of the rank that those rows touch
};
ExpertRankLoad busiest_expert_rank(const MoeSpec& moe, double tokens, int ep);

/// Reads the MoE fields of a `model_type` family from its HF config names (nothing for dense
/// families); key-path errors for bad values. `intermediate_size` is the model's dense MLP width.
MoeSpec parse_moe(const config::Node& node, const std::string& model_type, std::int64_t intermediate_size,
                  std::int64_t layers);

}  // namespace hetsim::models
